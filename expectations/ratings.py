"""The Great Expectations suites of the ratings source, and the reason each bad row is kept out.

A ratings file (explicit feedback, as MovieLens ``ratings.csv``: who rated what, how many
stars, when) is judged in two ways, like sessions and ad impressions:

- the *batch*: the schema suite (every required column, at least one row) and a critical check
  that at most :data:`MAX_BAD_SHARE` of the rows are bad; above that the file itself is broken
  (a shifted column, ratings on another scale) and it is quarantined whole;
- the *rows*: one warning per rule (an empty id, a rating off the 0.5-5 scale, a time that is
  not a date or lies in the future). A batch that passes loads its good rows; landing keeps the
  bad ones in ``quarantine/rows-<batch_id>/`` with the reason, one line each.

The checks read the flags that ``warehouse.sources.ratings.parse`` adds (``ok_<column>``) and
its ``row_problem`` text.
"""

from __future__ import annotations

from typing import Any

from expectations.raw_gate import schema_checks
from expectations.row_rules import MAX_BAD_SHARE, RowRule, bad_share_check, rule_checks

__all__ = [
    "MAX_BAD_SHARE",
    "MAX_RATING",
    "MIN_RATING",
    "RULES",
    "schema_suite",
    "value_expectations",
]

#: The rating scale: MovieLens' half stars and a shop's 1-5 stars both fit it.
MIN_RATING, MAX_RATING = 0.5, 5.0

#: Every per-row rule, in column order; ``parse`` sets ``ok_<column>`` for each.
RULES = (
    RowRule("user_id", "a user id"),
    RowRule("item_id", "an item id"),
    RowRule("rating", f"a number of stars from {MIN_RATING:g} to {MAX_RATING:g} in half steps"),
    RowRule("timestamp", "a time (Unix seconds or ISO 8601) no later than tomorrow"),
)


def schema_suite(delivered: list[str], required: list[str]) -> list[Any]:
    """Shape checks: every required column present (critical), nothing extra (warning)."""
    unknown = [c for c in delivered if c not in required]
    return schema_checks(required, unknown, column_set=required)


def value_expectations(show: list[str]) -> list[Any]:
    """The batch's share of bad rows (critical) and each row rule (warning: rows kept out)."""
    return [
        bad_share_check("ratings", show, "a shifted column, another rating scale"),
        *rule_checks(RULES, show),
    ]
