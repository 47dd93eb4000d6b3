"""Mart suites of the marts built from the ad impressions source (``fct_ad_impressions``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from expectations.marts import MartSuite


def _fct_ad_impressions(now: datetime) -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectColumnValuesToBeUnique(
            column="impression_id",
            description="impression_id is unique",
            meta={"explain": "two impressions share an id"},
        ),
        e.ExpectColumnMeanToBeBetween(
            column="clicked",
            min_value=0.0001,
            max_value=0.9,
            description="some impressions are clicked, most are not",
            meta={"explain": "a click-through rate of 0 or above 90% means broken tracking"},
        ),
        e.ExpectColumnValuesToBeBetween(
            column="cost",
            min_value=0,
            description="cost >= 0",
            meta={"explain": "an impression cannot cost less than nothing"},
        ),
        e.ExpectColumnValuesToBeBetween(
            column="shown_at",
            max_value=now + timedelta(days=1),
            description="shown_at is not in the future",
            meta={"explain": "impressions dated after tomorrow"},
        ),
    ]


SUITES = [MartSuite("fct_ad_impressions", _fct_ad_impressions, may_be_empty=True)]
