"""The raw gate: a source's GX suites on one delivered batch, before any of it is loaded.

A pure check: a parsed frame and the source's suites in, a :class:`GateResult` out. Suites run
in order, and a later one runs only when every critical check of the earlier ones passed (value
checks on a batch without its columns would only add noise). The caller
(``warehouse.landing``) decides what follows: load, or quarantine with a report.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pandas as pd

from expectations import CheckResult, GateResult
from mercato.settings import Settings


@dataclass(frozen=True)
class Suite:
    """One GX suite of a source: its name, its expectations, and what it sees.

    ``delivered_only`` suites see only the delivered columns (a schema suite must not count
    the parse helpers as unexpected columns); the others see the parsed frame.
    """

    name: str
    expectations: list[Any]
    delivered_only: bool = False


def validate_batch(
    parsed: pd.DataFrame,
    suites: list[Suite],
    settings: Settings,
    batch_id: str,
    delivered: list[str],
    *,
    update_docs: bool = True,
    without_kinds: frozenset[str] = frozenset(),
) -> GateResult:
    """Run ``suites`` over one parsed batch and return every check's outcome.

    ``delivered`` are the batch's own columns (already renamed to the source's names). Failing
    rows are reported by their data-row number in the file (the frame is in file order).

    A chunked read (``warehouse.landing``) passes ``update_docs=False`` and leaves out the
    expectation types in ``without_kinds`` (uniqueness, which one chunk cannot judge; see
    ``expectations.chunked``).
    """
    from expectations.context import data_docs_index, get_context, run_suite

    context = get_context(settings)
    checks: list[CheckResult] = []
    skipped: list[str] = []
    for suite in suites:
        if any(not c.success and c.severity == "critical" for c in checks):
            skipped.append(suite.name)
            continue
        frame = parsed[delivered] if suite.delivered_only else parsed
        # copies: GX binds an expectation to its suite, and a chunked read reuses the suites
        expectations = [
            copy.copy(e) for e in suite.expectations if expectation_kind(e) not in without_kinds
        ]
        checks += run_suite(
            settings,
            context,
            suite.name,
            expectations,
            frame,
            row_numbers=True,
            update_docs=update_docs,
        )
    return GateResult(
        gate=f"raw batch {batch_id}",
        success=not any(not c.success and c.severity == "critical" for c in checks),
        checks=checks,
        rows=len(parsed),
        data_docs=str(data_docs_index(settings)),
        skipped_suites=skipped,
    )


def expectation_kind(expectation: Any) -> str:
    """An expectation's GX type name, e.g. ``expect_column_values_to_be_unique``."""
    return str(expectation.expectation_type)


def schema_checks(
    required: list[str], unknown: list[str], column_set: list[str], exact_match: bool = True
) -> list[Any]:
    """The shape checks every source starts with: each required column present (critical,
    naming the unrecognised columns as the likely cause), nothing beyond ``column_set``
    (warning: ``unknown`` columns are ignored), and at least one row (critical)."""
    import great_expectations as gx

    e = gx.expectations
    hint = f"; the file has unrecognised columns {unknown}" if unknown else ""
    present = [
        e.ExpectColumnToExist(
            column=column,
            description=f"column {column} is present",
            meta={
                "explain": f"required column {column} is missing{hint} (map other names with "
                "column_map.json in the data folder)"
            },
        )
        for column in required
    ]
    return [
        *present,
        e.ExpectTableColumnsToMatchSet(
            column_set=column_set,
            exact_match=exact_match,
            severity="warning",
            description="no unexpected columns",
            meta={"explain": f"unexpected columns {unknown} are ignored"},
        ),
        e.ExpectTableRowCountToBeBetween(
            min_value=1,
            description="batch has rows",
            meta={"explain": "the batch has no data rows"},
        ),
    ]


def readable_failure(name: str, description: str, error: str) -> CheckResult:
    """A failed critical check for problems found before GX can run (an unreadable file)."""
    return CheckResult(
        name=name, severity="critical", success=False, description=description, error=error
    )
