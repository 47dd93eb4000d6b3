"""Frames the model tests train on, built from order lines in pandas.

The marts do this cleaning in SQL for the real pipeline; tests build the same shapes directly
from generated or real order lines so the models can be tested without the warehouse.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def order_lines_to_interactions(raw: pd.DataFrame) -> pd.DataFrame:
    """Known customers' delivered product lines as ``user_id, item_id, rating, timestamp``."""
    keep = (
        raw["CustomerID"].notna()
        & ~raw["InvoiceNo"].astype(str).str.startswith(("C", "A"))
        & (raw["Quantity"] > 0)
        & (raw["UnitPrice"] > 0)
        & raw["StockCode"].astype(str).str.match(r"^\d{5}")
    )
    lines = raw[keep].drop_duplicates()
    return pd.DataFrame(
        {
            "user_id": lines["CustomerID"].astype("int64").astype(str),
            "item_id": lines["StockCode"].astype(str),
            "rating": lines["Quantity"].astype(float),
            "timestamp": pd.to_datetime(lines["InvoiceDate"]),
        }
    ).reset_index(drop=True)


def customer_snapshots(
    raw: pd.DataFrame, every_days: int = 14, horizon_days: int = 30
) -> pd.DataFrame:
    """Customer features at regular snapshots with the purchase-within-horizon label.

    Mirrors marts ``customer_features`` and ``propensity_labels``: features only use lines
    before the snapshot; label = a non-cancelled order in [snapshot, snapshot + horizon).
    """
    lines = raw[raw["CustomerID"].notna() & (raw["UnitPrice"] > 0)].drop_duplicates().copy()
    lines["customer_id"] = lines["CustomerID"].astype("int64").astype(str)
    lines["ts"] = pd.to_datetime(lines["InvoiceDate"])
    lines["amount"] = lines["Quantity"] * lines["UnitPrice"]
    lines["cancel"] = lines["InvoiceNo"].astype(str).str.startswith("C")
    country = lines.groupby("customer_id")["Country"].first()
    end = lines["ts"].max().normalize() + pd.Timedelta(days=1)
    start = lines["ts"].min().normalize() + pd.Timedelta(days=60)
    frames = []
    snapshot = start
    while snapshot <= end:
        past = lines[lines["ts"] < snapshot]
        if past.empty:
            snapshot += pd.Timedelta(days=every_days)
            continue
        bought = past[~past["cancel"]]
        g = past.groupby("customer_id")
        gb = bought.groupby("customer_id")
        f = pd.DataFrame(
            {
                "recency_days": (snapshot - gb["ts"].max()).dt.total_seconds() / 86400,
                "frequency": gb["InvoiceNo"].nunique(),
                "monetary": g["amount"].sum(),
                "tenure_days": (snapshot - g["ts"].min()).dt.total_seconds() / 86400,
                "avg_basket_value": gb["amount"].sum() / gb["InvoiceNo"].nunique(),
                "return_rate": g["cancel"].mean(),
                "n_distinct_products": gb["StockCode"].nunique(),
            }
        ).dropna(subset=["recency_days"])
        f["is_uk"] = (country.reindex(f.index) == "United Kingdom").astype(int)
        future = lines[
            (~lines["cancel"])
            & (lines["ts"] >= snapshot)
            & (lines["ts"] < snapshot + pd.Timedelta(days=horizon_days))
        ]["customer_id"].unique()
        f["label"] = f.index.isin(future).astype(int)
        f["event_timestamp"] = snapshot
        f["horizon_complete"] = snapshot + pd.Timedelta(days=horizon_days) <= end
        frames.append(f.reset_index())
        snapshot += pd.Timedelta(days=every_days)
    out = pd.concat(frames, ignore_index=True)
    out["customer_id"] = out["customer_id"].astype(str)
    return out


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)
