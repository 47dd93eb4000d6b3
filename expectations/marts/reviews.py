"""Mart suites of the marts built from the reviews source (``dbt_project/models/marts/``).

Every one ``may_be_empty``: a shop that has never sent reviews (or a warehouse without the
reviews source) has empty review marts, and that is no failure. Once a mart has rows, the
row-count check of ``expectations.mart_gate`` holds it to the last validated count.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from expectations.marts import MartSuite


def _share(column: str) -> Any:
    import great_expectations as gx

    return gx.expectations.ExpectColumnValuesToBeBetween(
        column=column,
        min_value=0,
        max_value=1,
        description=f"{column} in [0, 1]",
        meta={"explain": f"{column} is a share of reviews"},
    )


def _review_facts(now: datetime) -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectColumnValuesToBeUnique(
            column="review_id",
            description="review_id is unique",
            meta={"explain": "a review appears twice (its versions were not resolved)"},
        ),
        e.ExpectColumnValuesToBeBetween(
            column="rating",
            min_value=1,
            max_value=5,
            description="rating between 1 and 5",
            meta={"explain": "ratings are stars from 1 to 5"},
        ),
        e.ExpectColumnValuesToBeInSet(
            column="sentiment_label",
            value_set=["positive", "neutral", "negative"],
            description="sentiment_label is positive, neutral or negative",
            meta={"explain": "the label follows the rating (4-5, 3, 1-2)"},
        ),
        e.ExpectColumnValuesToNotBeNull(
            column="text",
            description="text is filled",
            meta={"explain": "a review without text reached the mart"},
        ),
        e.ExpectColumnValueLengthsToBeBetween(
            column="text",
            min_value=1,
            description="text is not empty",
            meta={"explain": "a review with an empty text reached the mart"},
        ),
        e.ExpectColumnMeanToBeBetween(
            column="is_positive",
            min_value=0.01,
            max_value=0.99,
            severity="warning",
            description="both sentiments present (1%-99% positive)",
            meta={"explain": "the sentiment model needs positive and negative reviews"},
        ),
    ]


def _product_review_stats(now: datetime) -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectColumnValuesToBeUnique(
            column="product_id",
            description="product_id is unique",
            meta={"explain": "a product appears twice"},
        ),
        e.ExpectColumnValuesToBeBetween(
            column="n_reviews",
            min_value=1,
            description="n_reviews >= 1",
            meta={"explain": "every product in the mart has a review"},
        ),
        e.ExpectColumnValuesToBeBetween(
            column="mean_rating",
            min_value=1,
            max_value=5,
            description="mean_rating between 1 and 5",
            meta={"explain": "a mean of ratings from 1 to 5"},
        ),
        _share("positive_share"),
        _share("neutral_share"),
        _share("negative_share"),
    ]


def _review_rejects(now: datetime) -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectColumnValuesToNotBeNull(
            column="reject_reason",
            description="every set-aside review has a reason",
            meta={"explain": "a person cannot fix a row without its reason"},
        ),
        e.ExpectCompoundColumnsToBeUnique(
            column_list=["batch_id", "source_row"],
            description="(batch_id, source_row) is unique",
            meta={"explain": "one delivered row is listed twice"},
        ),
    ]


SUITES = [
    MartSuite("review_facts", _review_facts, may_be_empty=True),
    MartSuite("product_review_stats", _product_review_stats, may_be_empty=True),
    MartSuite("review_rejects", _review_rejects, may_be_empty=True),
]
