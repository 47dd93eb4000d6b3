"""The ratings source: explicit ratings (who rated what, how many stars, when): ``raw.ratings``.

The layout of MovieLens ``ratings.csv``: ``user_id, item_id, rating, timestamp``, one row per
rating. MovieLens' own names (``userId``, ``movieId``) and common spellings (``customer_id``,
``product_id``, ``StockCode``, ``stars``, ``rated_at``...) are aliases. The timestamp may be
Unix seconds (as in MovieLens) or an ISO 8601 date and time (stored in UTC, without zone).
Ratings are stars from 0.5 to 5 in half steps (MovieLens' scale; a shop's 1-5 stars fit it).
Ids are stored as text, integers without a trailing ``.0`` (``customer_id_text``), so a shop's
ratings join its order lines by customer and stock code.

Rows are judged one by one like sessions: :func:`parse` flags each rule (``ok_<column>``) and
writes each row's reasons into ``row_problem``; landing loads the good rows and keeps the bad
ones in ``quarantine/rows-<batch_id>/rejected_rows.csv`` with their reason, unless more than
``expectations.ratings.MAX_BAD_SHARE`` of the rows are bad (then the file is rejected whole).
Suites: ``expectations.ratings``; staging: ``dbt_project/models/staging/stg_ratings.sql``;
mart ``fct_ratings`` (the last rating of each user and item): the training data of the
``rating_recommendation`` family.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from expectations import ratings as suites
from expectations.raw_gate import Suite
from expectations.row_rules import mark_rows
from warehouse.sources import Column, Source
from warehouse.sources.orders import customer_ids

COLUMNS = (
    Column(
        "user_id",
        "VARCHAR",
        ("userId", "UserID", "user", "customer_id", "CustomerID"),
        description="who rated (a customer id in a shop)",
    ),
    Column(
        "item_id",
        "VARCHAR",
        ("movieId", "itemId", "item", "product_id", "StockCode"),
        description="what was rated (a stock code in a shop)",
    ),
    Column("rating", "DOUBLE", ("Rating", "stars", "score"), description="stars, 0.5 to 5"),
    Column(
        "timestamp",
        "TIMESTAMP",
        ("rated_at", "time", "date", "created_at"),
        description="when: Unix seconds or ISO 8601",
    ),
)
REQUIRED_COLUMNS = [c.name for c in COLUMNS]
HELPER_COLUMNS = (
    "value_user_id",
    "value_item_id",
    "value_rating",
    "value_timestamp",
    *(f"ok_{r.column}" for r in suites.RULES),
    "row_problem",
    "row_is_valid",
)


def parse_times(values: pd.Series) -> pd.Series:
    """Unix seconds (numbers, or text of digits) or ISO 8601 text -> naive UTC timestamps."""
    if pd.api.types.is_datetime64_any_dtype(values):
        out = pd.to_datetime(values)
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_convert("UTC").dt.tz_localize(None)
        return out.astype("datetime64[us]")
    numbers = pd.to_numeric(values, errors="coerce")
    seconds = pd.to_datetime(numbers.where(np.isfinite(numbers)), unit="s", errors="coerce")
    text = values.astype("string").str.strip().where(numbers.isna())
    iso = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
    iso = iso.dt.tz_localize(None)
    return seconds.astype("datetime64[us]").fillna(iso.astype("datetime64[us]"))


def parse(frame: pd.DataFrame, now: datetime | None = None) -> pd.DataFrame:
    """``frame`` plus typed values, a flag per rule and each row's problems (None: good).

    Works on CSV read as text and on typed Parquet alike.
    """
    out = frame.copy()
    latest = (now or datetime.now()) + timedelta(days=1)
    for column in ("user_id", "item_id"):
        if column in out.columns:
            out[f"value_{column}"] = customer_ids(out[column])
            out[f"ok_{column}"] = out[f"value_{column}"].notna().astype(bool)
    if "rating" in out.columns:
        stars = pd.to_numeric(out["rating"], errors="coerce").astype("float64")
        ok = (
            stars.notna()
            & np.isfinite(stars)
            & (stars >= suites.MIN_RATING)
            & (stars <= suites.MAX_RATING)
            & ((stars * 2) == (stars * 2).round())
        )
        out["value_rating"] = stars.where(ok)
        out["ok_rating"] = ok.astype(bool)
    if "timestamp" in out.columns:
        when = parse_times(out["timestamp"])
        out["value_timestamp"] = when
        out["ok_timestamp"] = (when.notna() & (when <= latest)).astype(bool)
    return mark_rows(out, suites.RULES)


def to_rows(parsed: pd.DataFrame) -> pd.DataFrame:
    """The good rows in ``raw.ratings`` types (landing has already set the bad ones aside)."""
    return pd.DataFrame(
        {
            "user_id": parsed["value_user_id"].astype(object),
            "item_id": parsed["value_item_id"].astype(object),
            "rating": parsed["value_rating"].astype("float64"),
            "timestamp": parsed["value_timestamp"],
        }
    ).reset_index(drop=True)


def _suites(delivered: list[str], now: datetime | None) -> list[Suite]:
    show = [c for c in REQUIRED_COLUMNS if c in delivered]
    return [
        Suite(
            "raw_ratings_schema",
            suites.schema_suite(delivered, REQUIRED_COLUMNS),
            delivered_only=True,
        ),
        Suite("raw_ratings", suites.value_expectations(show)),
    ]


SOURCE = Source(
    name="ratings",
    table="ratings",
    columns=COLUMNS,
    staging_model="stg_ratings",
    parse=parse,
    helper_columns=HELPER_COLUMNS,
    to_rows=to_rows,
    suites=_suites,
    description="explicit ratings (MovieLens ratings.csv layout): the rating recommender",
    reason_column="row_problem",
)
