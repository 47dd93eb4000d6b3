"""Synthetic explicit ratings in the MovieLens ``ratings.csv`` layout, for tests and the demo.

Each user has a taste (a favourite theme among the items) and a personal bias (generous or
severe raters); each item a theme and a quality. A user rates mostly items of the favourite
theme, and rates them higher; so items a user rates well predict other well-rated items of
their theme, and user-based Pearson (which centres each user's ratings by their mean) has a
signal to find. Ratings are half stars from 0.5 to 5; ``timestamp`` is Unix seconds, as in
MovieLens, spread over ``days`` days before ``end_date`` (exclusive): the same arguments write
the same bytes on any day. ``users`` and ``items`` give the ids to rate with (a shop's own
customers and stock codes), default ``1..n_users`` and ``1..n_items``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from warehouse.synthetic import write_frame

N_THEMES = 6


def generate_ratings(
    *,
    end_date: date,
    n_users: int = 200,
    n_items: int = 120,
    ratings_per_user: int = 20,
    days: int = 180,
    seed: int = 42,
    users: Sequence[str] | None = None,
    items: Sequence[str] | None = None,
) -> pd.DataFrame:
    """``user_id, item_id, rating, timestamp`` (one rating per user and item)."""
    rng = np.random.default_rng(seed)
    user_ids = np.asarray(users if users is not None else np.arange(1, n_users + 1), dtype=object)
    item_ids = np.asarray(items if items is not None else np.arange(1, n_items + 1), dtype=object)
    n_users, n_items = len(user_ids), len(item_ids)
    theme = np.arange(n_items) % N_THEMES
    quality = rng.normal(0.0, 0.5, n_items)
    favourite = rng.integers(0, N_THEMES, n_users)
    bias = rng.normal(0.0, 0.6, n_users)
    end = pd.Timestamp(end_date).timestamp()  # naive = UTC, whatever the machine's zone
    start = end - days * 86400
    rows = []
    for u in range(n_users):
        weight = np.where(theme == favourite[u], 6.0, 1.0) * np.exp(quality)
        count = min(n_items, max(2, int(rng.poisson(ratings_per_user))))
        chosen = rng.choice(n_items, size=count, replace=False, p=weight / weight.sum())
        liked = theme[chosen] == favourite[u]
        stars = 3.0 + bias[u] + quality[chosen] + np.where(liked, 1.2, -0.6)
        stars = np.clip(np.round((stars + rng.normal(0.0, 0.5, count)) * 2) / 2, 0.5, 5.0)
        when = np.sort(rng.uniform(start, end - 1, count)).astype(np.int64)
        rows += list(zip([user_ids[u]] * count, item_ids[chosen], stars, when, strict=True))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    return frame.sort_values(["timestamp", "user_id"], kind="stable").reset_index(drop=True)


def write_ratings(path: str | Path, **kwargs: object) -> Path:
    """Generate ratings and write them as CSV or Parquet, chosen by the file's suffix."""
    return write_frame(generate_ratings(**kwargs), path)  # type: ignore[arg-type]


def shop_ratings(
    path: str | Path,
    orders: pd.DataFrame,
    *,
    end_date: date,
    seed: int = 42,
    n_users: int = 150,
    ratings_per_user: int = 15,
    days: int = 180,
) -> Path:
    """Ratings of a shop's own products (the stock codes of ``orders``) by up to ``n_users`` of
    its customers: what a shop with both orders and ratings delivers."""
    customers = pd.Series(orders["CustomerID"].dropna().unique())
    customers = customers.map(lambda c: str(int(c)) if isinstance(c, float) else str(c))
    products = sorted(orders["StockCode"].dropna().astype(str).unique())
    return write_ratings(
        path,
        end_date=end_date,
        seed=seed,
        users=sorted(customers)[:n_users],
        items=products,
        ratings_per_user=ratings_per_user,
        days=days,
    )
