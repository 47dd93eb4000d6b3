"""Mart suites of the marts built from the ratings source (``fct_ratings``).

Empty until a shop sends ratings, which most shops never do (``may_be_empty``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from expectations.marts import MartSuite


def _fct_ratings(now: datetime) -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectCompoundColumnsToBeUnique(
            column_list=["user_id", "item_id"],
            description="one row per user and item",
            meta={"explain": "a re-rating was not collapsed to the latest one"},
        ),
        e.ExpectColumnValuesToBeBetween(
            column="rating",
            min_value=0.5,
            max_value=5,
            description="ratings are 0.5 to 5 stars",
            meta={"explain": "a rating outside the scale passed the raw gate"},
        ),
        e.ExpectColumnValuesToNotBeNull(
            column="rated_at",
            description="every rating has its time",
            meta={"explain": "the temporal hold-out cannot place a rating without a time"},
        ),
        e.ExpectColumnValuesToBeBetween(
            column="n_ratings",
            min_value=1,
            description="each row counts at least its own rating",
            meta={"explain": "the re-rating count is broken"},
        ),
    ]


SUITES = [MartSuite("fct_ratings", _fct_ratings, may_be_empty=True)]
