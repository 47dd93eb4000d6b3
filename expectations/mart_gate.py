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
from pathlib import Path
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
    from expectations.context import build_data_docs, data_docs_index, get_context, run_suite
    from expectations.marts import mart_suites

    now = now or datetime.now()
    context = get_context(settings)
    checks, table_rows, chunked = [], {}, False
    suites = [suite for suite in mart_suites() if suite.table in frames]
    counter = getattr(frames, "count", None)
    for suite in suites:
        table = suite.table
        expectations = row_count_check(table, previous_counts.get(table), suite.may_be_empty)
        suite_checks = suite.checks(now)
        # counted only where the count decides: a suite that cannot be chunked is read whole
        rows = (
            counter(table)
            if counter is not None and _chunkable([*expectations, *suite_checks])
            else None
        )
        if rows is not None and rows > settings.ingest_chunk_rows:
            table_rows[table] = rows
            table_checks = _check_in_chunks(
                settings, context, table, [*expectations, *suite_checks], frames, rows
            )
            chunked = True
        else:
            frame = frames[table]
            table_rows[table] = len(frame)
            if len(frame) or not suite.may_be_empty:
                expectations += suite_checks
            if not expectations:
                continue  # an empty mart whose source has sent nothing yet
            table_checks = run_suite(settings, context, table, expectations, frame)
            del frame
        for check in table_checks:
            check.name = f"{table}: {check.name}"
        checks += table_checks
    if chunked:
        build_data_docs(settings, context)
    return GateResult(
        gate="marts",
        success=not any(not c.success and c.severity == "critical" for c in checks),
        checks=checks,
        rows=sum(table_rows.values()),
        data_docs=str(data_docs_index(settings)),
        table_rows=table_rows,
    )


#: Row-level checks: GX judges them chunk by chunk and ``expectations.chunked`` merges the
#: counts exactly. Uniqueness is counted in DuckDB and the row count on the whole table.
ROW_KINDS = frozenset(
    {
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_in_set",
        "expect_column_values_to_not_be_null",
        "expect_column_value_lengths_to_be_between",
        "expect_column_pair_values_a_to_be_greater_than_b",
    }
)
ROW_COUNT = "expect_table_row_count_to_be_between"


def _chunkable(expectations: list[Any]) -> bool:
    """Whether a suite can be judged in chunks with the same result as on the whole table:
    only row-level checks, uniqueness of one column and the row count (not means or counts of
    distinct values, which need every row at once)."""
    from expectations.chunked import UNIQUE
    from expectations.raw_gate import expectation_kind

    return all(expectation_kind(e) in ROW_KINDS | {UNIQUE, ROW_COUNT} for e in expectations)


def _check_in_chunks(
    settings: Settings,
    context: Any,
    table: str,
    expectations: list[Any],
    tables: Any,
    length: int,
) -> list[Any]:
    """One big mart's suite, one chunk of ``settings.ingest_chunk_rows`` rows in memory at a
    time, judged as GX would judge the whole table (see ``expectations.chunked``).

    ``length`` is the mart's row count (counted once by the caller). ``tables`` gives its rows
    in chunks (``chunks``) and writes the columns a uniqueness check reads to Parquet
    (``export_columns``): the reader's ``LazyTables``.
    """
    import tempfile
    from copy import copy

    import pandas as pd

    from expectations.chunked import ROW, UNIQUE, merge_chunks, uniqueness_checks
    from expectations.context import EXAMPLE_ROWS, run_suite
    from expectations.raw_gate import expectation_kind

    kinds = [expectation_kind(e) for e in expectations]
    counted = [e for e, k in zip(expectations, kinds, strict=True) if k == ROW_COUNT]
    unique = [e for e, k in zip(expectations, kinds, strict=True) if k == UNIQUE]
    rows = [e for e, k in zip(expectations, kinds, strict=True) if k in ROW_KINDS]
    checks: list[Any] = []
    if counted:  # judged by GX on a frame of no columns and the table's length
        frame = pd.DataFrame(index=pd.RangeIndex(length))
        checks += run_suite(settings, context, f"{table}.rows", counted, frame, update_docs=False)
    if rows:
        # GX takes an expectation into one suite only: each chunk's run gets copies
        per_chunk = [
            run_suite(settings, context, table, [copy(e) for e in rows], chunk, update_docs=False)
            for chunk in tables.chunks(table, settings.ingest_chunk_rows)
        ]
        checks += merge_chunks(per_chunk, EXAMPLE_ROWS)
    if unique:
        columns = [c for e in unique for c in [e.column, *(e.meta or {}).get("show", [])]]
        with tempfile.TemporaryDirectory(dir=settings.duckdb_temp_dir) as folder:
            tables.export_columns(table, list(dict.fromkeys(columns)), ROW, folder)
            found = uniqueness_checks(settings, unique, Path(folder), EXAMPLE_ROWS)
        for check in found:
            check.row_numbers = []  # a warehouse table has no row order to number
        checks += found
    return checks
