"""The GX plumbing both gates share: one file context under ``settings.gx_dir``, a pandas data
source, and a checkpoint per suite whose results are turned into :class:`CheckResult` lines.

Suites validate pandas DataFrames: GX over DuckDB through SQLAlchemy fails every expectation
silently (see STACK_NOTES), so tables are read read-only into pandas first.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from expectations import CheckResult
from mercato.settings import Settings

DATA_SOURCE = "mercato"
EXAMPLE_ROWS = 5


def get_context(settings: Settings) -> Any:
    """A file data context in ``settings.gx_dir`` (stores, validation results and Data Docs)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    settings.gx_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=settings.gx_dir)
    bars = context.variables.progress_bars
    enabled = bars.get("globally", True) if isinstance(bars, dict) else getattr(bars, "globally", 1)
    if bars is None or enabled:
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()
    return context


def data_docs_index(settings: Settings) -> Path:
    """Where the local Data Docs site's front page is written."""
    return settings.gx_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


def run_suite(
    settings: Settings,
    context: Any,
    suite_name: str,
    expectations: list[Any],
    frame: pd.DataFrame,
    row_numbers: bool = False,
    update_docs: bool = True,
) -> list[CheckResult]:
    """Register ``suite_name`` (suite, validation definition, checkpoint) and validate ``frame``.

    Everything is created with ``add_or_update`` so the stores always hold the suite as written
    in code. The checkpoint's action rebuilds the Data Docs.

    ``row_numbers`` fills :attr:`CheckResult.row_numbers` from the frame's index: only for a
    frame read from a delivered file in file order (the raw gate), where index ``i`` is data row
    ``i + 1``. A table read from the warehouse has no meaningful row order.

    ``update_docs=False`` skips the Data Docs rebuild (a chunked read builds them once at the
    end with :func:`build_data_docs`).

    Customer ids among the examples are replaced by their pseudonyms (``mercato.privacy``):
    the results go into reports, messages, logs and run summaries. The kept file and
    ``rejected_rows.csv`` keep the delivered values for the person who fixes them.
    """
    import great_expectations as gx

    from mercato.privacy import Pseudonymizer

    source = context.data_sources.add_or_update_pandas(DATA_SOURCE)
    try:
        asset = source.get_asset(suite_name)
    except LookupError:
        asset = source.add_dataframe_asset(suite_name)
    try:
        batch_definition = asset.get_batch_definition(suite_name)
    except (KeyError, LookupError):
        batch_definition = asset.add_batch_definition_whole_dataframe(suite_name)

    suite = context.suites.add_or_update(
        gx.ExpectationSuite(name=suite_name, expectations=expectations)
    )
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite_name, data=batch_definition, suite=suite)
    )
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name=suite_name,
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")]
            if update_docs
            else [],
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 20},
        )
    )
    outcome = checkpoint.run(batch_parameters={"dataframe": frame})
    checks: list[CheckResult] = []
    pseudo = Pseudonymizer(settings.home)
    for validation in outcome.run_results.values():
        for result in validation.results:
            checks.append(_pseudonymised(_to_check(result, frame, row_numbers), pseudo))
    return checks


def build_data_docs(settings: Settings, context: Any | None = None) -> str:
    """Rebuild the local Data Docs site once; returns its front page."""
    (context or get_context(settings)).build_data_docs()
    return str(data_docs_index(settings))


def _pseudonymised(check: CheckResult, pseudo: Any) -> CheckResult:
    """``check`` with customer ids in its example rows and examples shown as pseudonyms."""
    from mercato.privacy import is_customer_column, scrub

    check.example_rows = [scrub(row, pseudo) for row in check.example_rows]
    if check.column is not None and is_customer_column(check.column):
        check.examples = [pseudo(v) for v in check.examples]
    return check


def _to_check(result: Any, frame: pd.DataFrame, row_numbers: bool) -> CheckResult:
    config = result.expectation_config
    kwargs = config.kwargs
    name = config.description or f"{config.type}({kwargs.get('column', '')})"
    meta = config.meta or {}
    severity = getattr(config.severity, "value", str(config.severity or "critical"))
    info = result.exception_info or {}
    error = None
    if isinstance(info, dict) and info.get("raised_exception"):
        error = str(info.get("exception_message") or "the check could not run")
    details = result.result or {}
    index = details.get("partial_unexpected_index_list") or []
    rows = frame.loc[[i for i in index[:EXAMPLE_ROWS] if i in frame.index]]
    example_columns = [c for c in meta.get("show", list(frame.columns)) if c in frame.columns]
    example_rows = [
        {k: _plain(v) for k, v in row.items()}
        for row in rows[example_columns].to_dict(orient="records")
    ]
    examples = [_plain(v) for v in (details.get("partial_unexpected_list") or [])[:EXAMPLE_ROWS]]
    if meta.get("example_column") in frame.columns:
        # the failing column is a parse flag: show the delivered values instead of True/False
        examples = [_plain(v) for v in rows[meta["example_column"]].tolist()]
    return CheckResult(
        name=name,
        column=meta.get("example_column") or kwargs.get("column"),
        severity=severity,
        success=bool(result.success),
        description=str(meta.get("explain", config.type)),
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=_round(details.get("unexpected_percent")),
        examples=examples or _observed(details),
        example_rows=example_rows,
        row_numbers=[int(i) + 1 for i in index[:EXAMPLE_ROWS] if isinstance(i, int | np.integer)]
        if row_numbers
        else [],
        error=error,
        kind=str(config.type),
        mostly=kwargs.get("mostly"),
        checked_count=_checked(details),
    )


def _checked(details: dict[str, Any]) -> int | None:
    """Values a column check judged: all elements less the missing ones (GX's denominator)."""
    total = details.get("element_count")
    if total is None:
        return None
    return int(total) - int(details.get("missing_count") or 0)


def _observed(details: dict[str, Any]) -> list[Any]:
    value = details.get("observed_value")
    if value is None:
        return []
    return [_plain(v) for v in value] if isinstance(value, list) else [_plain(value)]


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


def _plain(value: Any) -> Any:
    """JSON-able form of a cell (NaN -> None, timestamps -> ISO text)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat(sep=" ")
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)
