"""A generated randomised e-mail campaign in the campaigns source's layout, with a known effect.

Shaped like Kevin Hillstrom's MineThatData test (three arms: ``Mens E-Mail``, ``Womens E-Mail``,
``No E-Mail``; the same customer attributes) but with a stronger effect that *varies by customer*,
so that an uplift model has something to find and a response model ranks the wrong people first:

- customers with a large past-year spend (``history``) buy often *whether mailed or not* (sure
  things): high response, little uplift;
- the men's e-mail lifts men's-merchandise buyers, most of all recent ones; the women's e-mail
  lifts women's-merchandise buyers, most of all urban ones; new customers respond less;
- spend on conversion grows with ``history``.

The true conversion probabilities under each arm are returned too (``true_uplift_*`` columns,
dropped by :func:`write_campaigns`), so tests can check a model against the truth.
Customers are the given ids first (the synthetic orders' customers, so planning can join
their CLV), then new ids from :data:`NEW_CUSTOMER_START` up when ``n_customers`` asks for more.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ARMS = ("Mens E-Mail", "Womens E-Mail", "No E-Mail")
#: Customer ids beyond the given ones start here (above any id the orders generator writes).
NEW_CUSTOMER_START = 900_000
HISTORY_BINS = (
    (100.0, "1) $0 - $100"),
    (200.0, "2) $100 - $200"),
    (350.0, "3) $200 - $350"),
    (500.0, "4) $350 - $500"),
    (750.0, "5) $500 - $750"),
    (1000.0, "6) $750 - $1,000"),
    (float("inf"), "7) $1,000 +"),
)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate_campaigns(
    *,
    end_date: date,
    n_customers: int = 3000,
    customers: Sequence[str] | None = None,
    campaign: str = "spring_newsletter",
    days_tracked: int = 14,
    seed: int = 42,
) -> pd.DataFrame:
    """One send of ``campaign`` to ``n_customers`` customers, randomised over :data:`ARMS`.

    The send is ``days_tracked`` days before ``end_date`` (09:00), so the outcomes' window
    closes on ``end_date``; the same arguments always give the same rows.
    """
    if n_customers < 30:
        raise ValueError("need n_customers >= 30 (ten per arm)")
    rng = np.random.default_rng(seed)
    given = [str(c) for c in (customers or [])][:n_customers]
    extra = n_customers - len(given)
    ids = given + [str(NEW_CUSTOMER_START + i) for i in range(extra)]
    n = len(ids)

    recency = rng.integers(1, 13, n)
    history = np.clip(np.exp(rng.normal(5.0, 0.9, n)), 29.99, 3345.93).round(2)
    kind = rng.choice(3, n, p=[0.4, 0.4, 0.2])  # men's only, women's only, both
    mens = (kind != 1).astype(int)
    womens = (kind != 0).astype(int)
    zip_code = rng.choice(["Urban", "Suburban", "Rural"], n, p=[0.4, 0.45, 0.15])
    newbie = rng.integers(0, 2, n)
    channel = rng.choice(["Phone", "Web", "Multichannel"], n, p=[0.44, 0.44, 0.12])
    arm = rng.choice(len(ARMS), n)

    big = np.log(history / 100.0)
    base = -3.9 + 1.0 * big - 0.08 * (recency - 6) + 0.3 * (channel == "Multichannel")
    # sure things: the effect fades as past spend grows (above ~$200 a year)
    fade = 1.0 / (1.0 + np.exp(3.0 * (big - 0.7)))
    lift_mens = fade * (1.9 * mens + 0.6 * (recency <= 4) * mens - 0.5 * newbie)
    lift_womens = fade * (1.7 * womens + 0.6 * (zip_code == "Urban") * womens - 0.5 * newbie)
    p_control = _sigmoid(base)
    p_mens = _sigmoid(base + lift_mens)
    p_womens = _sigmoid(base + lift_womens)
    p = np.where(arm == 0, p_mens, np.where(arm == 1, p_womens, p_control))
    converted = (rng.random(n) < p).astype(int)
    visited = np.where(converted == 1, 1, (rng.random(n) < np.clip(3.0 * p, 0, 0.9)).astype(int))
    spend = np.where(
        converted == 1,
        np.clip(np.exp(rng.normal(np.log(30 + 0.15 * history), 0.5)), 5.0, 499.0),
        0.0,
    ).round(2)

    sent_at = datetime.combine(end_date, datetime.min.time()) - timedelta(days=days_tracked)
    sent_at += timedelta(hours=9)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "campaign": campaign,
            "treatment_arm": np.array(ARMS, dtype=object)[arm],
            "sent_at": sent_at.strftime("%Y-%m-%d %H:%M:%S"),
            "visited": visited,
            "converted": converted,
            "spend": spend,
            "recency": recency,
            "history_segment": [
                next(label for top, label in HISTORY_BINS if h < top) for h in history
            ],
            "history": history,
            "mens": mens,
            "womens": womens,
            "zip_code": zip_code,
            "newbie": newbie,
            "channel": channel,
            "true_uplift_mens_e_mail": p_mens - p_control,
            "true_uplift_womens_e_mail": p_womens - p_control,
        }
    )


def write_campaigns(path: str | Path, **kwargs: object) -> Path:
    """Generate a campaign and write it as CSV (without the true-uplift columns)."""
    path = Path(path)
    frame = generate_campaigns(**kwargs)  # type: ignore[arg-type]
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith("true_uplift_")])
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def order_customers(orders: pd.DataFrame) -> list[str]:
    """The distinct customer ids of generated order lines (``CustomerID``, guests dropped), as
    integer text in order of first appearance: the ``customers`` of :func:`generate_campaigns`."""
    ids = pd.to_numeric(orders["CustomerID"], errors="coerce").dropna().astype("int64")
    return [str(c) for c in ids.drop_duplicates()]
