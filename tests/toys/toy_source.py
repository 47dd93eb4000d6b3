"""A toy raw source that lives in the test tree only: product ratings.

It exists to prove that a source declared outside Mercato's code (``MERCATO_EXTRA_SOURCES=
toy_ratings=toy_source`` with this folder on ``PYTHONPATH``) is recognised by its columns, gated,
loaded into its own raw table, or quarantined with a report, with no shipped file edited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from expectations.raw_gate import Suite
from warehouse.sources import Column, Source

COLUMNS = (
    Column("rating_id", "VARCHAR", ("id",)),
    Column("product_id", "VARCHAR", ("sku", "item")),
    Column("rating", "BIGINT", ("stars", "score")),
    Column("comment", "VARCHAR", ("text",), required=False),
)
REQUIRED = [c.name for c in COLUMNS if c.required]


def parse(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    if "rating" in out.columns:
        value = pd.to_numeric(out["rating"], errors="coerce")
        out["rating_value"] = value.where(np.isfinite(value))
    return out


def to_rows(parsed: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rating_id": parsed["rating_id"].astype(str),
            "product_id": parsed["product_id"].astype(str),
            "rating": parsed["rating_value"].astype("int64"),
            "comment": parsed["comment"] if "comment" in parsed.columns else None,
        }
    )


def suites(delivered: list[str], now: datetime | None) -> list[Suite]:
    import great_expectations as gx

    e = gx.expectations
    schema: list[Any] = [
        e.ExpectColumnToExist(
            column=c,
            description=f"column {c} is present",
            meta={"explain": f"required column {c} is missing"},
        )
        for c in REQUIRED
    ]
    values: list[Any] = [
        e.ExpectColumnValuesToBeBetween(
            column="rating_value",
            min_value=1,
            max_value=5,
            description="rating is between 1 and 5",
            meta={"explain": "ratings are stars from 1 to 5", "show": REQUIRED},
        ),
        e.ExpectColumnValuesToNotBeNull(
            column="rating_value",
            description="rating is a number",
            meta={"explain": "every rating must be a number", "show": REQUIRED},
        ),
    ]
    return [
        Suite("raw_toy_ratings_schema", schema, delivered_only=True),
        Suite("raw_toy_ratings", values),
    ]


SOURCE = Source(
    name="toy_ratings",
    table="toy_ratings",
    columns=COLUMNS,
    staging_model="stg_toy_ratings",
    parse=parse,
    helper_columns=("rating_value",),
    to_rows=to_rows,
    suites=suites,
    description="product ratings (a toy source from the test tree)",
)
