"""The Great Expectations suites of the support source, and the reason each bad row is kept out.

As for sessions and ads (``expectations.sessions``): the schema suite (the message text, its
intent and category present, at least one row), a critical check that at most
:data:`MAX_BAD_SHARE` of the rows are bad (above it the file is a broken export, say an
intent column shifted into the text, and it is rejected whole), and one warning per row rule.
A passing batch loads its good rows; its bad ones go to ``quarantine/rows-<batch_id>/`` with
the reason. The checks read the flags ``warehouse.sources.support.parse`` adds (``ok_<rule>``)
and its ``row_problem`` text.
"""

from __future__ import annotations

from typing import Any

from expectations.row_rules import MAX_BAD_SHARE, RowRule, bad_share_check, rule_checks
from expectations.sessions import schema_suite

#: Longest message accepted, in characters: a support request is a few sentences (the Bitext
#: sample's longest is 60 characters); a longer one is a paste or a quoting error.
MAX_TEXT_CHARS = 4_000

#: Every per-row rule; ``parse`` sets ``ok_<column>`` for each.
RULES = (
    RowRule("text", f"filled, valid UTF-8 text of at most {MAX_TEXT_CHARS:,} characters"),
    RowRule("intent", "a lower-case intent name (letters, digits and _)"),
    RowRule("category", "filled"),
    RowRule("sent_at", "a date and time (ISO 8601), not in the future, when given"),
)

#: Checked per row but never keeps a message out: a span outside its text (the Bitext file has 99,
#: from truncated values) is dropped and the message, whose text and intent are good, loads.
ENTITY_RULE = RowRule("entity", "offsets inside the text (start < end), when an entity is given")

__all__ = [
    "ENTITY_RULE",
    "MAX_BAD_SHARE",
    "MAX_TEXT_CHARS",
    "RULES",
    "schema_suite",
    "value_expectations",
]


def value_expectations(show: list[str]) -> list[Any]:
    """The batch's share of bad rows (critical), each rule (warning), more than one intent
    (warning: a single-intent file teaches a classifier nothing)."""
    import great_expectations as gx

    e = gx.expectations
    checks: list[Any] = [
        bad_share_check("messages", show, "a shifted column, another export"),
        e.ExpectColumnUniqueValueCountToBeBetween(
            column="value_intent",
            min_value=2,
            severity="warning",
            description="the messages carry at least two intents",
            meta={"show": show, "explain": "one intent alone cannot train the intent family"},
        ),
        *rule_checks(RULES, show),
    ]
    checks.append(
        e.ExpectColumnValuesToBeInSet(
            column=f"ok_{ENTITY_RULE.column}",
            value_set=[True],
            severity="warning",
            description=f"{ENTITY_RULE.column} is {ENTITY_RULE.rule}",
            meta={
                "show": show,
                "explain": "these messages load without their entity span (offsets outside the "
                "text, e.g. a truncated value); their text and intent are kept",
            },
        )
    )
    return checks
