"""Synthetic ad impressions with clicks, conversions and cost, for tests and ``make demo``.

Click-through follows a logistic model of the context: a campaign and a creative effect, a
placement effect, a device effect, a placement-by-device interaction (a banner works on
desktop, not on mobile), the hour of day and whether the viewer is a known customer. So a
model of the single categories learns most of it, and one that sees the crossed categories
or learns interactions learns the rest. A click converts with a campaign-dependent rate.
Dates are fixed by the caller (``end_date``, exclusive): the same arguments, the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

CAMPAIGNS = {"spring_sale": 0.2, "new_arrivals": 0.0, "retarget": 0.7, "brand": -0.5}
PLACEMENTS = {"home_banner": 0.0, "search_top": 0.8, "sidebar": -0.6, "feed_native": 0.4}
DEVICES = {"desktop": 0.0, "mobile": -0.2, "tablet": 0.1}
#: placement x device effects beyond the sum of the two (the interaction to learn)
CROSSED = {("home_banner", "mobile"): -1.2, ("feed_native", "mobile"): 1.1}
OS = {"desktop": ("windows", "macos", "linux"), "mobile": ("android", "ios"), "tablet": ("ios",)}
COUNTRIES = ("GB", "DE", "FR", "NL", "ES")
COST = {"home_banner": 0.004, "search_top": 0.012, "sidebar": 0.002, "feed_native": 0.006}


def make_impressions(
    n_impressions: int = 20_000,
    seed: int = 0,
    end_date: date | None = None,
    days: int = 60,
    customer_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """``n_impressions`` impressions shown in the ``days`` before ``end_date`` (required).

    About a third are shown to known customers (``customer_ids``, default ``C0001``...), the
    others to anonymous cookies.
    """
    if end_date is None:
        raise ValueError("end_date is required: generated data must not depend on today")
    rng = np.random.default_rng(seed)
    n = n_impressions
    first = datetime.combine(end_date - timedelta(days=days), time())
    offsets = np.sort(rng.integers(0, days * 86_400, size=n))
    shown = pd.Timestamp(first) + pd.to_timedelta(offsets, unit="s")
    campaign = rng.choice(list(CAMPAIGNS), size=n, p=(0.3, 0.3, 0.2, 0.2))
    creative_no = rng.integers(1, 4, size=n)
    creative = np.char.add(np.char.add(campaign.astype(str), "-v"), creative_no.astype(str))
    placement = rng.choice(list(PLACEMENTS), size=n, p=(0.35, 0.2, 0.25, 0.2))
    device = rng.choice(list(DEVICES), size=n, p=(0.45, 0.45, 0.1))
    os_name = np.array([rng.choice(OS[d]) for d in device])
    country = rng.choice(COUNTRIES, size=n, p=(0.5, 0.2, 0.15, 0.1, 0.05))
    known = rng.random(n) < 0.35
    pool = list(customer_ids) if customer_ids else [f"C{i:04d}" for i in range(1, 801)]
    customer = np.where(known, rng.choice(pool, size=n), None)
    anonymous = np.where(known, None, np.char.add("ck-", rng.integers(0, 50_000, n).astype(str)))

    hour = shown.hour.to_numpy()
    logit = (
        -3.3
        + np.vectorize(CAMPAIGNS.get)(campaign)
        + 0.5 * (creative_no == 2)
        - 0.5 * (creative_no == 3)
        + np.vectorize(PLACEMENTS.get)(placement)
        + np.vectorize(DEVICES.get)(device)
        + np.array([CROSSED.get((p, d), 0.0) for p, d in zip(placement, device, strict=True)])
        + 0.6 * ((hour >= 19) & (hour <= 22))
        + 0.6 * known
    )
    clicked = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    convert_rate = np.where(campaign == "retarget", 0.12, 0.05)
    converted = clicked & (rng.random(n) < convert_rate)
    cost = np.vectorize(COST.get)(placement) * rng.uniform(0.8, 1.2, n)
    return pd.DataFrame(
        {
            "impression_id": [f"imp-{seed}-{i:07d}" for i in range(n)],
            "shown_at": shown.strftime("%Y-%m-%d %H:%M:%S"),
            "customer_id": customer,
            "anonymous_id": anonymous,
            "campaign": campaign,
            "creative": creative,
            "placement": placement,
            "device": device,
            "os": os_name,
            "country": country,
            "clicked": np.where(clicked, "TRUE", "FALSE"),
            "converted": np.where(converted, "TRUE", "FALSE"),
            "cost": cost.round(6),
        }
    )


def write_impressions(
    path: Path,
    n_impressions: int = 20_000,
    seed: int = 0,
    end_date: date | None = None,
    days: int = 60,
    customer_ids: Sequence[str] | None = None,
) -> Path:
    """Write :func:`make_impressions` as a CSV at ``path`` (folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = make_impressions(n_impressions, seed, end_date, days, customer_ids)
    frame.to_csv(path, index=False, lineterminator="\n")
    return path
