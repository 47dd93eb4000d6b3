"""Mart suites of the marts built from the sessions source (``fct_sessions``).

Empty until a sessions file is delivered (a shop without web analytics has none).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from expectations.marts import MartSuite


def _fct_sessions(now: datetime) -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    checks: list[Any] = [
        e.ExpectColumnValuesToBeUnique(
            column="session_id",
            description="session_id is unique",
            meta={"explain": "two sessions share an id"},
        ),
        e.ExpectColumnMeanToBeBetween(
            column="label",
            min_value=0.001,
            max_value=0.999,
            description="both outcomes occur",
            meta={"explain": "every session bought, or none did: nothing to learn from"},
        ),
    ]
    for column in ("bounce_rate", "exit_rate", "special_day"):
        checks.append(
            e.ExpectColumnValuesToBeBetween(
                column=column,
                min_value=0,
                max_value=1,
                description=f"{column} between 0 and 1",
                meta={"explain": f"{column} is a rate"},
            )
        )
    for column in ("product_seconds", "page_value", "total_pages"):
        checks.append(
            e.ExpectColumnValuesToBeBetween(
                column=column,
                min_value=0,
                description=f"{column} >= 0",
                meta={"explain": f"{column} cannot be negative"},
            )
        )
    return checks


SUITES = [MartSuite("fct_sessions", _fct_sessions, may_be_empty=True)]
