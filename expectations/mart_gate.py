"""The mart gate: GX suites over the dbt marts, run after every build and before Feast reads them.

One suite per mart, named after it, declared in ``expectations.marts`` (one module per source's
marts). dbt's own data tests already hold keys and relationships;
these suites add what dbt does not: distributions (non-negative monetary, recency within the
data's span, a label rate that leaves both classes), and a row count that may not drop by more
than :data:`MAX_ROW_DROP` since the last run that passed (marts grow with every batch; a shrink
means lost data). Suites run on pandas frames (see ``expectations.context``).

:func:`check_marts` is a pure check; the ``validate`` stage (``pipeline.stages``) reads the
marts, keeps the row counts of passing runs, and on a critical failure writes the failing rows
and a report to ``quarantine/marts-<time>/`` and raises :class:`expectations.GateFailed`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from expectations import GateResult
from mercato.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

#: A mart may shrink by at most this fraction between two validated runs.
MAX_ROW_DROP = 0.10


#: Written by ``pipeline.stages.validate`` each time the mart gate passes: when, in UTC.
GATE_PASSED_FILE = "mart_gate_passed.json"


def record_pass(settings: Settings, when: datetime) -> None:
    """Note that the mart gate passed at ``when`` (read by ``monitoring.freshness``). The time
    is written into the file, not read from its mtime: a copied or restored data folder keeps
    the time its marts were built, and the clock that decides is the pipeline's own."""
    import json

    path = settings.gx_dir / GATE_PASSED_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"passed_at": when.isoformat()}))


def last_pass(settings: Settings) -> datetime | None:
    """When the mart gate last passed (None: never, or an unreadable record)."""
    import json

    path = settings.gx_dir / GATE_PASSED_FILE
    try:
        return datetime.fromisoformat(json.loads(path.read_text())["passed_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def mart_tables() -> list[str]:
    """Every mart the gate checks (one suite each in ``expectations.marts``)."""
    from expectations.marts import mart_suites

    return [suite.table for suite in mart_suites()]


def row_count_check(table: str, rows_before: int | None, may_be_empty: bool = False) -> list[Any]:
    """No mart shrinks by more than :data:`MAX_ROW_DROP` since the last passing run, and none
    is empty unless its source has sent nothing yet (``may_be_empty``)."""
    import great_expectations as gx

    e = gx.expectations
    if rows_before:
        floor = math.floor(rows_before * (1 - MAX_ROW_DROP))
        return [
            e.ExpectTableRowCountToBeBetween(
                min_value=floor,
                description=f"{table} keeps at least {floor} rows",
                meta={
                    "explain": f"the row count dropped more than {MAX_ROW_DROP:.0%} below the "
                    f"last validated run ({rows_before} rows)"
                },
            )
        ]
    if may_be_empty:
        return []
    return [
        e.ExpectTableRowCountToBeBetween(
            min_value=1,
            description=f"{table} is not empty",
            meta={"explain": "the mart has no rows"},
        )
    ]


def check_marts(
    frames: Mapping[str, pd.DataFrame],
    previous_counts: Mapping[str, int],
    settings: Settings,
    now: datetime | None = None,
) -> GateResult:
    """Validate every mart in ``frames`` against its suite: a pure check, frames in, result out.

    A mart that is not in ``frames`` is not checked: the caller reads every mart, except on
    Spark the optional marts Spark does not build. Each frame is read from ``frames`` once, in
    turn, and let go before the next: a lazy mapping (``warehouse.reader.LazyTables``) keeps
    one mart in memory at a time. The row count of each goes into ``GateResult.table_rows``.

    ``previous_counts`` are the row counts of the last run that passed (the row-count check
    compares against them). The caller keeps those counts and writes the report on failure.
    """
    from expectations.context import data_docs_index, get_context, run_suite
    from expectations.marts import mart_suites

    now = now or datetime.now()
    context = get_context(settings)
    checks, table_rows = [], {}
    suites = [suite for suite in mart_suites() if suite.table in frames]
    for suite in suites:
        table, frame = suite.table, frames[suite.table]
        table_rows[table] = len(frame)
        expectations = row_count_check(table, previous_counts.get(table), suite.may_be_empty)
        if len(frame) or not suite.may_be_empty:
            expectations += suite.checks(now)
        if not expectations:
            continue  # an empty mart whose source has sent nothing yet
        table_checks = run_suite(settings, context, table, expectations, frame)
        for check in table_checks:
            check.name = f"{table}: {check.name}"
        checks += table_checks
        del frame
    return GateResult(
        gate="marts",
        success=not any(not c.success and c.severity == "critical" for c in checks),
        checks=checks,
        rows=sum(table_rows.values()),
        data_docs=str(data_docs_index(settings)),
        table_rows=table_rows,
    )
