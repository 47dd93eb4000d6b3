"""The Great Expectations suites of the ad impressions source, and each bad row's reason.

As for sessions (``expectations.sessions``): the schema suite, a critical check that at most
:data:`MAX_BAD_SHARE` of the rows are bad (above it the file is rejected whole), and one
warning per rule; a passing batch loads its good rows and its bad ones go to
``quarantine/rows-<batch_id>/rejected_rows.csv`` with the reason. The checks read the flags
``warehouse.sources.ads.parse`` adds (``ok_<rule>``) and its ``row_problem`` text.
"""

from __future__ import annotations

from typing import Any

from expectations.row_rules import MAX_BAD_SHARE, RowRule, bad_share_check, rule_checks
from expectations.sessions import schema_suite

#: Every per-row rule; ``parse`` sets ``ok_<column>`` for each.
RULES = (
    RowRule("impression_id", "filled"),
    RowRule("shown_at", "a date and time (ISO 8601), not in the future"),
    RowRule("user", "filled: a customer_id or an anonymous_id"),
    RowRule("campaign", "filled"),
    RowRule("creative", "filled"),
    RowRule("placement", "filled"),
    RowRule("device", "filled"),
    RowRule("clicked", "TRUE or FALSE"),
    RowRule("converted", "TRUE or FALSE, and TRUE only after a click"),
    RowRule("cost", "an amount >= 0"),
)

__all__ = ["MAX_BAD_SHARE", "RULES", "schema_suite", "value_expectations"]


def value_expectations(show: list[str]) -> list[Any]:
    """The batch's share of bad rows (critical), each rule (warning), duplicate ids (warning)."""
    import great_expectations as gx

    duplicates = gx.expectations.ExpectColumnValuesToBeUnique(
        column="impression_id",
        severity="warning",
        description="impression_id is unique",
        meta={"show": show, "explain": "repeated impression ids count once (staging)"},
    )
    return [bad_share_check("impressions", show), duplicates, *rule_checks(RULES, show)]
