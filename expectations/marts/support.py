"""Mart suites of the marts built from the support source (``support_messages``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from expectations.marts import MartSuite


def _support_messages(now: datetime) -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectColumnValuesToBeUnique(
            column="message_id",
            description="message_id is unique",
            meta={"explain": "two messages share an id"},
        ),
        e.ExpectColumnValuesToNotBeNull(
            column="text",
            description="every message has its text",
            meta={"explain": "a message without text cannot be classified"},
        ),
        e.ExpectColumnUniqueValueCountToBeBetween(
            column="intent",
            min_value=2,
            description="at least two intents",
            meta={"explain": "the intent family cannot learn from a single intent"},
        ),
        e.ExpectColumnValueLengthsToBeBetween(
            column="text",
            min_value=1,
            max_value=4_000,
            description="texts are 1 to 4,000 characters",
            meta={"explain": "an empty or overlong message passed the raw gate"},
        ),
    ]


SUITES = [MartSuite("support_messages", _support_messages, may_be_empty=True)]
