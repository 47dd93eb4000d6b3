"""Seeded synthetic order lines in the UCI Online Retail schema, for the default run and tests.

The data has the structure the three models need, so that they have something real to find:

- customers follow archetypes (loyal, regular, occasional, lapsed, new) that differ in order
  frequency, recency and basket size, so segments exist and recency predicts the next purchase;
- products belong to themes and have a long-tail popularity; customers buy mostly from one or two
  favourite themes, so co-purchase structure exists and collaborative filtering beats popularity;
- the defects of real data appear in realistic proportions: cancellations (``C`` invoices with
  negative quantities), guest orders without a CustomerID, exact duplicate rows, postage and
  bad-debt adjustment lines, zero and negative prices;
- orders follow a weekly and yearly seasonality and end on a given day: today for the demo
  (so Feast's time windows behave as on live data), a fixed day in tests (so nothing depends
  on the day they run).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from warehouse.sources.orders import REQUIRED_COLUMNS as COLUMNS

_COUNTRIES = ["Germany", "France", "EIRE", "Spain", "Netherlands", "Belgium", "Switzerland"]
_THEME_WORDS = [
    "VINTAGE",
    "REGENCY",
    "CHRISTMAS",
    "GARDEN",
    "RETROSPOT",
    "KITCHEN",
    "PARTY",
    "HEART",
    "WOODLAND",
    "SPACEBOY",
    "DOLLY GIRL",
    "JAM MAKING",
]
_ITEM_WORDS = [
    "MUG",
    "BAG",
    "CANDLE",
    "LANTERN",
    "CAKE STAND",
    "TEA SET",
    "NAPKINS",
    "BUNTING",
    "SIGN",
    "CLOCK",
    "FRAME",
    "BOX",
    "LUNCH BOX",
    "PLATE",
    "CUSHION",
]


@dataclass(frozen=True)
class Archetype:
    """How a kind of customer behaves: orders a year, basket lines, and when they are active."""

    name: str
    share: float
    orders_per_year: float
    basket_lines: float
    active_start: tuple[float, float]  # fraction of the period when they start (min, max)
    active_end: tuple[float, float]  # fraction of the period when they stop (min, max)


ARCHETYPES = [
    Archetype("loyal", 0.12, 30.0, 18.0, (0.0, 0.15), (0.97, 1.0)),
    Archetype("regular", 0.25, 10.0, 10.0, (0.0, 0.4), (0.85, 1.0)),
    Archetype("occasional", 0.30, 3.0, 6.0, (0.0, 0.7), (0.6, 1.0)),
    Archetype("lapsed", 0.20, 6.0, 8.0, (0.0, 0.3), (0.25, 0.6)),
    Archetype("new", 0.13, 12.0, 7.0, (0.82, 0.95), (1.0, 1.0)),
]


def generate_orders(
    *,
    end_date: date,
    n_customers: int = 1000,
    n_products: int = 300,
    days: int = 365,
    seed: int = 42,
    guest_share: float = 0.04,
    cancel_share: float = 0.02,
    duplicate_share: float = 0.005,
) -> pd.DataFrame:
    """Return order lines in the raw UCI Online Retail schema, as the real file types them.

    ``InvoiceDate`` is text (``YYYY-MM-DD HH:MM:SS``) and ``CustomerID`` a float with NaN for
    guests, exactly like the published Parquet file, so the ingest path is the same. The same
    arguments always give the same rows: ``end_date`` (the day after the last order) is
    required so that nothing depends on the day the generator runs. Tests pass a fixed date;
    ``mercato generate`` and the demo pass today's.
    """
    if n_customers < 1 or n_products < 10 or days < 30:
        raise ValueError("need n_customers >= 1, n_products >= 10 and days >= 30")
    rng = np.random.default_rng(seed)
    end = datetime.combine(end_date, datetime.min.time())
    start = end - timedelta(days=days)

    products = _make_products(n_products, rng)
    n_themes = int(products["theme"].max()) + 1
    theme_sizes = products.groupby("theme").size().to_numpy()
    theme_start = np.r_[0, np.cumsum(theme_sizes)[:-1]]

    # -- customers ----------------------------------------------------------------------------
    shares = np.array([a.share for a in ARCHETYPES])
    kinds = rng.choice(len(ARCHETYPES), size=n_customers, p=shares / shares.sum())
    customer_ids = 12346 + rng.permutation(n_customers * 3)[:n_customers]
    countries = np.where(
        rng.random(n_customers) < 0.85,
        "United Kingdom",
        rng.choice(_COUNTRIES, size=n_customers),
    )
    fav_theme = rng.integers(0, n_themes, size=n_customers)
    second_theme = (fav_theme + 1 + rng.integers(0, n_themes - 1, size=n_customers)) % n_themes

    # -- orders: a seasonal Poisson process per customer --------------------------------------
    order_cust: list[np.ndarray] = []
    order_time: list[np.ndarray] = []
    for kind_idx, arch in enumerate(ARCHETYPES):
        members = np.flatnonzero(kinds == kind_idx)
        if members.size == 0:
            continue
        lo = rng.uniform(*arch.active_start, size=members.size)
        hi = np.maximum(lo + 0.05, rng.uniform(*arch.active_end, size=members.size))
        rate = arch.orders_per_year * rng.lognormal(0.0, 0.4, size=members.size)
        expected = rate * (np.minimum(hi, 1.0) - lo) * days / 365.0
        counts = np.maximum(1, rng.poisson(expected * 1.6))  # thinned below by seasonality
        cust = np.repeat(members, counts)
        frac = rng.uniform(np.repeat(lo, counts), np.minimum(np.repeat(hi, counts), 1.0))
        when = start + pd.to_timedelta(frac * days, unit="D")
        keep = rng.random(cust.size) < _seasonality(when) / 1.6
        # every customer keeps at least their first order
        first = np.r_[True, cust[1:] != cust[:-1]]
        keep |= first
        order_cust.append(cust[keep])
        order_time.append(np.asarray(when[keep], dtype="datetime64[ns]"))
    o_cust = np.concatenate(order_cust)
    o_time = np.concatenate(order_time)
    # shop hours 8:00-18:00, to the minute
    o_day = o_time.astype("datetime64[D]")
    minutes = rng.integers(8 * 60, 18 * 60, size=o_cust.size)
    o_time = o_day + minutes.astype("timedelta64[m]")
    order_idx = np.argsort(o_time, kind="stable")
    o_cust, o_time = o_cust[order_idx], o_time[order_idx]
    n_orders = o_cust.size

    # -- lines: themed basket draws with a long tail ------------------------------------------
    basket_mean = np.array([a.basket_lines for a in ARCHETYPES])[kinds[o_cust]]
    n_lines = np.maximum(1, rng.poisson(basket_mean))
    line_order = np.repeat(np.arange(n_orders), n_lines)
    line_cust = o_cust[line_order]
    roll = rng.random(line_order.size)
    theme = np.where(roll < 0.6, fav_theme[line_cust], second_theme[line_cust])
    within = np.minimum(rng.zipf(1.6, size=line_order.size) - 1, theme_sizes[theme] - 1)
    item = theme_start[theme] + within
    global_pick = roll >= 0.85
    item[global_pick] = _zipf_index(rng, n_products, int(global_pick.sum()), a=1.3)

    lines = pd.DataFrame(
        {
            "order": line_order,
            "cust": line_cust,
            "item": item,
        }
    ).drop_duplicates(["order", "item"])
    n = len(lines)
    order_pos = lines["order"].to_numpy()
    cust_pos = lines["cust"].to_numpy()
    item_pos = lines["item"].to_numpy()
    quantity = np.where(rng.random(n) < 0.2, rng.integers(12, 49, size=n), rng.geometric(0.35, n))
    base_price = products["price"].to_numpy()[item_pos]
    price = np.round(base_price * np.where(quantity >= 12, 0.85, 1.0), 2)

    invoice_no = (536365 + order_pos).astype(str)
    guest_orders = rng.random(n_orders) < guest_share
    customer = customer_ids[cust_pos].astype(float)
    customer[guest_orders[order_pos]] = np.nan
    frame = pd.DataFrame(
        {
            "InvoiceNo": invoice_no,
            "StockCode": products["stock_code"].to_numpy()[item_pos],
            "Description": products["description"].to_numpy()[item_pos],
            "Quantity": quantity.astype("int64"),
            "InvoiceDate": o_time[order_pos],
            "UnitPrice": price,
            "CustomerID": customer,
            "Country": countries[cust_pos],
        }
    )

    extras = [
        _postage_lines(frame, rng),
        _cancellations(frame, rng, cancel_share, 536365 + n_orders, end),
        _adjustments(frame, rng, next_invoice=536365 + n_orders + 10_000_000),
    ]
    frame = pd.concat([frame, *extras], ignore_index=True)
    # a few bad prices, as in real exports: zero-priced lines and a negative one
    bad = rng.choice(len(frame), size=max(1, len(frame) // 2000), replace=False)
    frame.loc[bad, "UnitPrice"] = 0.0
    dup = frame.sample(frac=duplicate_share, random_state=seed)
    frame = pd.concat([frame, dup], ignore_index=True)
    frame = frame.sort_values(["InvoiceDate", "InvoiceNo"], kind="stable").reset_index(drop=True)
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    return frame[COLUMNS]


def write_frame(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a generated batch as CSV or Parquet, chosen by the file's suffix (folders made)."""
    path = Path(path)
    if path.suffix.lower() not in (".parquet", ".csv"):
        raise ValueError(f"unsupported file type {path.suffix!r}: use .csv or .parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def write_orders(path: str | Path, **kwargs: object) -> Path:
    """Generate order lines and write them as CSV or Parquet, chosen by the file's suffix."""
    return write_frame(generate_orders(**kwargs), path)  # type: ignore[arg-type]


# -- helpers -------------------------------------------------------------------------------------


def _make_products(n_products: int, rng: np.random.Generator) -> pd.DataFrame:
    """Products sorted by theme; within a theme the first product is its bestseller."""
    n_themes = max(2, min(len(_THEME_WORDS) * 2, n_products // 12))
    codes = 20000 + rng.permutation(70000)[:n_products]
    theme = np.arange(n_products) % n_themes
    order = np.argsort(theme, kind="stable")
    words = [_THEME_WORDS[t % len(_THEME_WORDS)] for t in range(n_themes)]
    descriptions = [
        f"{words[theme[i]]} {_ITEM_WORDS[(i // n_themes) % len(_ITEM_WORDS)]} {i // n_themes}"
        for i in range(n_products)
    ]
    frame = pd.DataFrame(
        {
            "stock_code": codes.astype(str),
            "description": descriptions,
            "theme": theme,
            "price": np.round(rng.lognormal(1.0, 0.7, size=n_products), 2) + 0.29,
        }
    )
    return frame.iloc[order].reset_index(drop=True)


def _zipf_index(rng: np.random.Generator, n: int, size: int, a: float) -> np.ndarray:
    ranks = np.arange(1, n + 1, dtype=float)
    weights = ranks**-a
    perm = rng.permutation(n)
    return perm[rng.choice(n, size=size, p=weights / weights.sum())]


def _seasonality(when: pd.DatetimeIndex) -> np.ndarray:
    """Relative order intensity: busier in autumn and before Christmas, quiet on Saturdays."""
    month = np.asarray(when.month)
    yearly = 1.0 + 0.5 * np.isin(month, [9, 10, 11]) + 0.3 * (month == 12)
    weekly = np.where(np.asarray(when.dayofweek) == 5, 0.3, 1.0)
    return yearly * weekly


def _postage_lines(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Foreign orders pay postage, recorded as a non-product ``POST`` line."""
    invoices = frame.drop_duplicates("InvoiceNo")
    foreign = invoices[invoices["Country"] != "United Kingdom"]
    post = foreign.sample(frac=0.7, random_state=int(rng.integers(1 << 31))).copy()
    post["StockCode"] = "POST"
    post["Description"] = "POSTAGE"
    post["Quantity"] = 1
    post["UnitPrice"] = 18.0
    return post


def _cancellations(
    frame: pd.DataFrame, rng: np.random.Generator, share: float, next_invoice: int, end: datetime
) -> pd.DataFrame:
    """Cancelled lines: a ``C`` invoice up to a few days later with the negated quantity."""
    known = frame[frame["CustomerID"].notna()]
    cancel = known.sample(frac=share, random_state=int(rng.integers(1 << 31))).copy()
    cancel["Quantity"] = -cancel["Quantity"]
    delay = pd.to_timedelta(rng.integers(60, 60 * 24 * 5, size=len(cancel)), unit="m")
    latest = pd.Timestamp(end) - pd.Timedelta(minutes=1)
    cancel["InvoiceDate"] = (pd.to_datetime(cancel["InvoiceDate"]) + delay).clip(upper=latest)
    cancel["InvoiceNo"] = ["C" + str(next_invoice + i) for i in range(len(cancel))]
    return cancel


def _adjustments(frame: pd.DataFrame, rng: np.random.Generator, next_invoice: int) -> pd.DataFrame:
    """Bad-debt adjustments (``A`` invoices, negative price) as the real ledger has them."""
    when = pd.to_datetime(frame["InvoiceDate"]).sample(3, random_state=int(rng.integers(1 << 31)))
    return pd.DataFrame(
        {
            "InvoiceNo": [f"A{next_invoice + i}" for i in range(3)],
            "StockCode": "B",
            "Description": "Adjust bad debt",
            "Quantity": 1,
            "InvoiceDate": when.to_numpy(),
            "UnitPrice": [-11062.06, 11062.06, -11062.06],
            "CustomerID": np.nan,
            "Country": "United Kingdom",
        }
    )
