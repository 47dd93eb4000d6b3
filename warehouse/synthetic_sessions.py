"""Synthetic browsing sessions in the UCI Online Shoppers layout, for tests and ``make demo``.

Each session has a hidden purchase intent (higher in November, for new visitors and on a few
traffic sources). Intent drives how many product pages the visitor opens and for how long, how
often they leave (exit and bounce rates), and whether they buy; ``PageValues`` (the analytics
value of the pages seen, high on the way to a checkout) is mostly positive for buyers and
mostly zero for the others. So the page-value rule ranks well, and a model that also reads the
engagement and context does better, as on the real file.

Dates are fixed by the caller (``end_date``, exclusive): the same arguments write the same
bytes on any day. The file is a CSV with ``TRUE``/``FALSE`` booleans and ``June`` spelled out,
like the UCI export, plus a ``session_start`` column (the UCI file has none; leave it out with
``with_start=False`` to deliver exactly the UCI columns).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

#: Relative traffic per month (busy autumn and spring, as in the UCI file).
MONTH_WEIGHTS = (0.4, 0.6, 1.4, 0.5, 2.4, 0.8, 0.7, 0.7, 0.8, 1.0, 2.2, 1.3)
#: Special days whose ten days before raise ``SpecialDay`` (Valentine's, Mother's Day).
SPECIAL_DAYS = ((2, 14), (5, 10))
#: Traffic sources with more buyers (affiliates, newsletters).
GOOD_TRAFFIC = (2, 5, 8)


def _special_day(days: pd.DatetimeIndex) -> np.ndarray:
    out = np.zeros(len(days))
    for month, day in SPECIAL_DAYS:
        special = pd.to_datetime(
            [date(int(y), month, day) for y in days.year], format="ISO8601"
        ).to_numpy()
        before = (special - days.normalize().to_numpy()) / np.timedelta64(1, "D")
        near = (before >= 0) & (before < 10)
        out = np.where(near, np.maximum(out, np.round(1 - before / 10, 1)), out)
    return out


def make_sessions(
    n_sessions: int = 3000,
    seed: int = 0,
    end_date: date | None = None,
    days: int = 365,
    with_start: bool = True,
) -> pd.DataFrame:
    """``n_sessions`` sessions starting in the ``days`` before ``end_date`` (required)."""
    if end_date is None:
        raise ValueError("end_date is required: generated data must not depend on today")
    rng = np.random.default_rng(seed)
    first = datetime.combine(end_date - timedelta(days=days), time())
    day_index = pd.date_range(first, periods=days, freq="D")
    weights = np.array([MONTH_WEIGHTS[m - 1] for m in day_index.month], dtype=float)
    day = rng.choice(days, size=n_sessions, p=weights / weights.sum())
    seconds = rng.integers(6 * 3600, 24 * 3600, size=n_sessions)
    starts = pd.DatetimeIndex(day_index[day]) + pd.to_timedelta(seconds, unit="s")
    order = np.argsort(starts.to_numpy(), kind="stable")
    starts = starts[order]

    visitor = rng.choice(VISITORS, size=n_sessions, p=(0.85, 0.14, 0.01))
    traffic = rng.choice(np.arange(1, 21), size=n_sessions, p=_zipf(20, 1.2))
    region = rng.choice(np.arange(1, 10), size=n_sessions, p=_zipf(9, 0.8))
    browser = rng.choice(np.arange(1, 14), size=n_sessions, p=_zipf(13, 1.5))
    system = rng.choice(np.arange(1, 9), size=n_sessions, p=_zipf(8, 1.4))

    intent = (
        rng.normal(0.0, 1.0, n_sessions)
        + 0.7 * (starts.month == 11)
        + 0.4 * (visitor == "New_Visitor")
        + 0.6 * np.isin(traffic, GOOD_TRAFFIC)
    )
    engagement = np.exp(rng.normal(0.0, 0.6, n_sessions) + 0.45 * intent)
    product = rng.poisson(12 * engagement) + (rng.random(n_sessions) < 0.9)
    admin = rng.poisson(1.2 * engagement * rng.random(n_sessions) * 2)
    info = rng.poisson(0.3 * engagement * rng.random(n_sessions) * 2)
    per_page = rng.gamma(2.0, 18.0, n_sessions) * (1 + 0.15 * np.clip(intent, -2, 3))
    product_s = np.round(product * np.clip(per_page, 1.0, None), 6)
    admin_s = np.round(admin * rng.gamma(2.0, 25.0, n_sessions), 6)
    info_s = np.round(info * rng.gamma(2.0, 30.0, n_sessions), 6)
    pages = np.maximum(product + admin + info, 1)

    bought = rng.random(n_sessions) < _sigmoid(-3.1 + 1.2 * intent + 0.25 * np.log1p(product))
    exit_rate = np.clip(rng.beta(2, 40, n_sessions) * (1.6 - 0.25 * np.tanh(intent)), 0, 0.2)
    exit_rate = np.where(pages == 1, 0.2, exit_rate)
    bounce = np.clip(exit_rate * rng.uniform(0.0, 0.9, n_sessions), 0, 0.2)
    bounce = np.where(pages == 1, np.where(rng.random(n_sessions) < 0.7, 0.2, 0.0), bounce)
    valued = np.where(bought, rng.random(n_sessions) < 0.85, rng.random(n_sessions) < 0.12)
    value = np.where(
        valued, np.exp(rng.normal(np.where(bought, 3.3, 2.3), 0.9, n_sessions)), 0.0
    ).round(6)

    frame = pd.DataFrame(
        {
            "Administrative": admin,
            "Administrative_Duration": admin_s,
            "Informational": info,
            "Informational_Duration": info_s,
            "ProductRelated": product,
            "ProductRelated_Duration": product_s,
            "BounceRates": bounce.round(6),
            "ExitRates": exit_rate.round(6),
            "PageValues": value,
            "SpecialDay": _special_day(starts),
            "Month": [_uci_month(m) for m in starts.month],
            "OperatingSystems": system,
            "Browser": browser,
            "Region": region,
            "TrafficType": traffic,
            "VisitorType": visitor,
            "Weekend": np.where(starts.dayofweek >= 5, "TRUE", "FALSE"),
            "Revenue": np.where(bought, "TRUE", "FALSE"),
        }
    )
    if with_start:
        frame["session_start"] = starts.strftime("%Y-%m-%d %H:%M:%S")
    return frame


VISITORS = np.array(["Returning_Visitor", "New_Visitor", "Other"])


def _uci_month(month: int) -> str:
    return "June" if month == 6 else date(2000, month, 1).strftime("%b")


def _zipf(n: int, a: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** a
    return w / w.sum()


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def write_sessions(
    path: Path,
    n_sessions: int = 3000,
    seed: int = 0,
    end_date: date | None = None,
    days: int = 365,
    with_start: bool = True,
) -> Path:
    """Write :func:`make_sessions` as a UCI-layout CSV at ``path`` (folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = make_sessions(n_sessions, seed, end_date, days, with_start)
    frame.to_csv(path, index=False, lineterminator="\n")
    return path
