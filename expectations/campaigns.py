"""The Great Expectations suites of the campaigns source, run on every batch before it loads.

Two suites run in order, as for orders. ``raw_campaign_exposures_schema`` checks the shape (the
treatment arm and the three outcomes are there, the batch has rows). ``raw_campaign_exposures``
checks the values on the typed helper columns ``warehouse.sources.campaigns.parse`` adds: a
filled treatment arm, outcomes that are 0/1 flags, a spend that is a non-negative number, a send
time that parses and is not in the future, one row per customer and campaign, customer
attributes that parse where they were delivered. A failed critical check quarantines the batch
with the failing rows (their row numbers in the file) and the reason in ``report.md``.

Warnings (reported, never blocking): a campaign without a control arm (no uplift can be learnt
from it), conversions without a visit, spend without a conversion, ids or campaigns that were
not delivered and had to be derived (see the source's docstring).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from expectations.raw_gate import schema_checks

EARLIEST_DATE = datetime(2000, 1, 1)
#: The most a single customer's spend after one send can plausibly be.
MAX_SPEND = 100_000.0


def schema_expectations(columns: list[str], required: list[str], known: list[str]) -> list[Any]:
    """Shape checks: every required column present (critical), nothing unknown (warning)."""
    unknown = [c for c in columns if c not in known]
    return schema_checks(required, unknown, column_set=known, exact_match=False)


def _flag_check(column: str, source: str, explain: str, show: list[str]) -> Any:
    import great_expectations as gx

    return gx.expectations.ExpectColumnValuesToBeInSet(
        column=column,
        value_set=[True],
        description=f"{source} parses",
        meta={"show": show, "example_column": source, "explain": explain},
    )


def value_expectations(
    show: list[str], delivered: list[str], now: datetime | None = None
) -> list[Any]:
    """Value checks on one batch; ``critical`` ones reject it, ``warning`` ones are reported."""
    import great_expectations as gx

    e = gx.expectations
    latest = (now or datetime.now()) + timedelta(days=1)
    row = {"show": show}
    checks: list[Any] = [
        e.ExpectColumnValuesToNotBeNull(
            column="treatment_arm",
            description="treatment_arm is never empty",
            meta={**row, "explain": "every row must say which arm (or the control) it was in"},
        ),
        e.ExpectColumnValuesToNotBeNull(
            column="customer_id_text",
            description="customer_id is never empty",
            meta={**row, "explain": "every row must name its customer"},
        ),
    ]
    for column, what in (("visited", "visited"), ("converted", "converted")):
        checks.append(
            _flag_check(f"{column}_is_flag", column, f"{what} must be 0 or 1 (or true/false)", show)
        )
    checks += [
        _flag_check(
            "spend_is_number", "spend", "spend must be a plain number (no currency sign)", show
        ),
        e.ExpectColumnValuesToBeBetween(
            column="spend_value",
            min_value=0,
            description="spend is not negative",
            meta={**row, "explain": "spend after a send cannot be negative"},
        ),
        e.ExpectColumnValuesToBeUnique(
            column="customer_key",
            description="one row per customer and campaign",
            meta={
                **row,
                "explain": "a customer appears twice in the same campaign (which arm and which "
                "outcome is right?)",
            },
        ),
    ]
    if "sent_at" in delivered:
        checks += [
            _flag_check("sent_at_is_timestamp", "sent_at", "sent_at must be a date and time", show),
            e.ExpectColumnValuesToBeBetween(
                column="sent_at_value",
                min_value=EARLIEST_DATE,
                max_value=latest,
                description="sent_at is not in the future",
                meta={
                    **row,
                    "explain": f"sent_at must lie between {EARLIEST_DATE:%Y-%m-%d} and "
                    f"{latest:%Y-%m-%d %H:%M} (today plus one day)",
                },
            ),
        ]
    for column in ("recency", "history"):
        if column in delivered:
            checks.append(
                _flag_check(
                    f"{column}_is_number", column, f"{column} must be a non-negative number", show
                )
            )
    for column in ("mens", "womens", "newbie"):
        if column in delivered:
            checks.append(
                _flag_check(f"{column}_is_flag", column, f"{column} must be 0 or 1", show)
            )
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
