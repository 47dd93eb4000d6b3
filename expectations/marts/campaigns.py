"""Mart suites of the marts built from the campaigns source (``campaign_exposures``,
``dim_campaigns``); both are empty until a campaign file has been delivered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from expectations.marts import MartSuite


def _campaign_exposures(now: datetime) -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectColumnValuesToBeUnique(
            column="exposure_id",
            description="one row per customer and campaign",
            meta={"explain": "a customer appears twice in one campaign"},
        ),
        e.ExpectColumnValuesToBeInSet(
            column="converted",
            value_set=[0, 1],
            description="converted is 0 or 1",
            meta={"explain": "conversion must be a 0/1 outcome"},
        ),
        e.ExpectColumnValuesToBeBetween(
            column="spend",
            min_value=0,
            description="spend >= 0",
            meta={"explain": "spend after a send cannot be negative"},
        ),
        e.ExpectColumnValuesToBeInSet(
            column="is_control",
            value_set=[True, False],
            description="is_control is true or false",
            meta={"explain": "every row must be in the control or a treated arm"},
        ),
    ]


def _dim_campaigns(now: datetime) -> list[Any]:
    import great_expectations as gx

    return [
        gx.expectations.ExpectColumnValuesToBeUnique(
            column="campaign",
            description="campaign is unique",
            meta={"explain": "a campaign appears twice"},
        ),
    ]


SUITES = [
    MartSuite("campaign_exposures", _campaign_exposures, may_be_empty=True),
    MartSuite("dim_campaigns", _dim_campaigns, may_be_empty=True),
]
