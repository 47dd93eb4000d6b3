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
from expectations.sessions import RowRule

#: Above this share of bad rows the batch is rejected whole instead of row by row.
MAX_BAD_SHARE = 0.10
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
    import great_expectations as gx

    e = gx.expectations
    checks: list[Any] = [
        e.ExpectColumnValuesToBeInSet(
            column="row_is_valid",
            value_set=[True],
            mostly=1.0 - MAX_BAD_SHARE,
            description=f"at most {MAX_BAD_SHARE:.0%} of the ratings are bad",
            meta={
                "show": ["row_problem", *show],
                "explain": f"more than {MAX_BAD_SHARE:.0%} of the rows break a rule: the file "
                "looks broken (a shifted column, another rating scale), so none of it is loaded",
            },
        )
    ]
    for rule in RULES:
        checks.append(
            e.ExpectColumnValuesToBeInSet(
                column=f"ok_{rule.column}",
                value_set=[True],
                severity="warning",
                description=f"{rule.column} is {rule.rule}",
                meta={
                    "show": show,
                    "example_column": rule.column,
                    "explain": f"rows whose {rule.column} is not {rule.rule} are kept out of "
                    "the warehouse (see rejected_rows.csv)",
                },
            )
        )
    return checks
