"""The Great Expectations suites of the campaigns source, run on every batch before it loads.

Two suites run in order, as for orders. ``raw_campaign_exposures_schema`` checks the shape (the
treatment arm and the three outcomes are there, the batch has rows). ``raw_campaign_exposures``
judges the rows one by one, as for sessions (``expectations.row_rules``): each rule of
:data:`RULES` (a filled treatment arm and customer, outcomes that are 0/1 flags, a spend that is
a non-negative number, a send time that parses and is not in the future, customer attributes that
parse where they were delivered, one row per customer and campaign) is a warning whose rows are
kept out of the warehouse, in ``quarantine/rows-<batch>/rejected_rows.csv`` with their reason;
the rest loads. Only a file with more than ``MAX_BAD_SHARE`` bad rows (a shifted column, another
export) or a missing required column is refused whole, kept intact with ``report.md``.

Warnings (reported, never blocking): a campaign without a control arm (no uplift can be learnt
from it), conversions without a visit, spend without a conversion, ids or campaigns that were
not delivered and had to be derived (see the source's docstring).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from expectations.raw_gate import schema_checks
from expectations.row_rules import MAX_BAD_SHARE, RowRule, bad_share_check, rule_checks

__all__ = ["MAX_BAD_SHARE", "RULES", "schema_expectations", "value_expectations"]

EARLIEST_DATE = datetime(2000, 1, 1)
#: The most a single customer's spend after one send can plausibly be.
MAX_SPEND = 100_000.0

#: Every per-row rule; ``warehouse.sources.campaigns.parse`` sets ``ok_<column>`` for each
#: column it finds (optional columns only where delivered; an empty optional value is fine).
RULES = (
    RowRule("customer_id", "an id (never empty)"),
    RowRule("treatment_arm", "the arm or the control (never empty)"),
    RowRule("visited", "0 or 1 (or true/false)"),
    RowRule("converted", "0 or 1 (or true/false)"),
    RowRule("spend", "a plain number >= 0 (no currency sign)"),
    RowRule("sent_at", f"a date and time between {EARLIEST_DATE:%Y-%m-%d} and tomorrow"),
    RowRule("recency", "a number >= 0"),
    RowRule("history", "a number >= 0"),
    RowRule("mens", "0 or 1"),
    RowRule("womens", "0 or 1"),
    RowRule("newbie", "0 or 1"),
)


def schema_expectations(columns: list[str], required: list[str], known: list[str]) -> list[Any]:
    """Shape checks: every required column present (critical), nothing unknown (warning)."""
    unknown = [c for c in columns if c not in known]
    return schema_checks(required, unknown, column_set=known, exact_match=False)


def value_expectations(show: list[str], delivered: list[str]) -> list[Any]:
    """The share of bad rows (critical), a warning per row rule (its rows kept out), and the
    campaign-level warnings (reported, never blocking)."""
    import great_expectations as gx

    e = gx.expectations
    row = {"show": show}
    rules = [r for r in RULES if r.column in delivered or r.column == "customer_id"]
    checks: list[Any] = [
        bad_share_check("campaign rows", show, "a shifted column, another export"),
        *rule_checks(rules, show),
        e.ExpectColumnValuesToBeInSet(
            column="ok_once",
            value_set=[True],
            severity="warning",
            description="one row per customer and campaign",
            meta={
                **row,
                "example_column": "customer_id",
                "explain": "a customer appears more than once in the same campaign (which arm "
                "and which outcome is right?): all of its rows are kept out",
            },
        ),
    ]
    # -- warnings: reported, never blocking
    checks += [
        e.ExpectColumnValuesToBeInSet(
            column="campaign_has_control",
            value_set=[True],
            severity="warning",
            description="every campaign has a control arm",
            meta={
                **row,
                "explain": "a campaign without a control arm (No E-Mail, control, none, holdout) "
                "cannot tell the campaign's effect from what customers would have done anyway; "
                "it is loaded but the uplift family skips it",
            },
        ),
        e.ExpectColumnValuesToBeInSet(
            column="conversion_has_visit",
            value_set=[True],
            severity="warning",
            description="every conversion has a visit",
            meta={**row, "explain": "conversions without a recorded visit"},
        ),
        e.ExpectColumnValuesToBeInSet(
            column="spend_has_conversion",
            value_set=[True],
            severity="warning",
            description="spend only where converted",
            meta={**row, "explain": "spend recorded on rows that did not convert"},
        ),
        e.ExpectColumnValuesToBeBetween(
            column="spend_value",
            max_value=MAX_SPEND,
            severity="warning",
            description=f"spend at most {MAX_SPEND:,.0f}",
            meta={**row, "explain": "implausibly high spend"},
        ),
    ]
    if "customer_id" not in delivered:
        checks.append(
            e.ExpectColumnToExist(
                column="customer_id",
                severity="warning",
                description="customer ids delivered",
                meta={
                    "explain": "the file has no customer id: ids were derived as "
                    "<campaign>-<row number in the file> (stable for this file only; they "
                    "join to no other source)"
                },
            )
        )
    if "campaign" not in delivered:
        checks.append(
            e.ExpectColumnToExist(
                column="campaign",
                severity="warning",
                description="campaign named",
                meta={
                    "explain": "the file has no campaign column: every row was taken for "
                    "campaign 'hillstrom' (the MineThatData e-mail test); add a campaign "
                    "column to name it"
                },
            )
        )
    return checks
