"""The Great Expectations suites of the sessions source, and the reason each bad row is kept out.

A sessions file (the UCI Online Shoppers Purchasing Intention layout) is judged in two ways:

- the *batch*: the schema suite (every required column, at least one row) and a critical check
  that at most :data:`MAX_BAD_SHARE` of the rows are bad; above that the file itself is broken
  (a shifted column, another export) and it is quarantined whole;
- the *rows*: one warning per column check (a count that is not a whole number, a rate outside
  0..1, an unknown month...). A batch that passes loads its good rows; its bad rows go to
  ``quarantine/rows-<batch_id>/`` with the reason, one line each (``warehouse.landing``).

The checks read the flags that ``warehouse.sources.sessions.parse`` adds (``ok_<column>``:
False where the value is missing or breaks the rule) and its ``row_problem`` text.
"""

from __future__ import annotations

from typing import Any

from expectations.raw_gate import schema_checks
from expectations.row_rules import MAX_BAD_SHARE, RowRule, bad_share_check, rule_checks

__all__ = ["MAX_BAD_SHARE", "RULES", "RowRule", "schema_suite", "value_expectations"]


#: Every per-row rule, in column order; ``parse`` sets ``ok_<column>`` for each.
RULES = (
    RowRule("Administrative", "a whole number of pages >= 0"),
    RowRule("Administrative_Duration", "seconds >= 0"),
    RowRule("Informational", "a whole number of pages >= 0"),
    RowRule("Informational_Duration", "seconds >= 0"),
    RowRule("ProductRelated", "a whole number of pages >= 0"),
    RowRule("ProductRelated_Duration", "seconds >= 0"),
    RowRule("BounceRates", "a rate between 0 and 1"),
    RowRule("ExitRates", "a rate between 0 and 1"),
    RowRule("PageValues", "a value >= 0"),
    RowRule("SpecialDay", "a closeness between 0 and 1"),
    RowRule("Month", "a month name (Feb, Mar, June...)"),
    RowRule("OperatingSystems", "a category code (whole number >= 1)"),
    RowRule("Browser", "a category code (whole number >= 1)"),
    RowRule("Region", "a category code (whole number >= 1)"),
    RowRule("TrafficType", "a category code (whole number >= 1)"),
    RowRule("VisitorType", "Returning_Visitor, New_Visitor or Other"),
    RowRule("Weekend", "TRUE or FALSE"),
    RowRule("Revenue", "TRUE or FALSE"),
)


def schema_suite(delivered: list[str], required: list[str], optional: list[str]) -> list[Any]:
    """Shape checks: every required column present (critical), nothing extra (warning)."""
    allowed = [*required, *(c for c in optional if c in delivered)]
    unknown = [c for c in delivered if c not in allowed]
    return schema_checks(required, unknown, column_set=allowed)


def value_expectations(show: list[str]) -> list[Any]:
    """The batch's share of bad rows (critical) and each column rule (warning: rows kept out)."""
    return [
        bad_share_check("sessions", show, "a shifted column, another export"),
        *rule_checks(RULES, show),
    ]
