"""Great Expectations gates: one on each raw batch before it is loaded, one on the marts after dbt.

A gate runs GX suites (written as code in ``raw_gate`` and ``mart_gate``) through checkpoints that
also update the Data Docs under ``settings.gx_dir``. Each expectation carries a ``severity``:
a failed ``critical`` check stops the pipeline with :class:`GateFailed`, a failed ``warning`` is
reported and lets the data through. This module holds only the plain result types, so importing
it stays cheap; GX itself is imported inside the gate functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CheckResult:
    """The outcome of one check, phrased for a person reading a report.

    ``row_numbers`` are 1-based positions of failing rows among the data rows (header excluded)
    of a delivered file; only the raw gate sets them (a warehouse table has no row order).
    """

    name: str
    severity: str
    success: bool
    description: str
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    examples: list[Any] = field(default_factory=list)
    example_rows: list[dict[str, Any]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)
    error: str | None = None
    #: the column whose values ``examples`` are (None for table-level checks)
    column: str | None = None
    #: the GX expectation type (``expect_column_values_to_be_unique``...)
    kind: str | None = None
    #: GX's ``mostly``: the share of checked values that must pass (None: all of them)
    mostly: float | None = None
    #: values the check judged (non-missing ones for column checks): what ``unexpected_percent``
    #: is a share of; a chunked read sums it over the chunks and judges ``mostly`` on the totals
    checked_count: int | None = None

    def message(self) -> str:
        """One line: what was expected and how the data broke it."""
        if self.success:
            return f"{self.name}: ok"
        text = f"{self.name}: {self.description}"
        if self.error:
            return f"{text} ({self.error})"
        if self.unexpected_count is not None:
            pct = (
                f" ({self.unexpected_percent:.2f}%)" if self.unexpected_percent is not None else ""
            )
            text += f" - {self.unexpected_count} rows fail{pct}"
        if any(v is not None for v in self.examples):
            shown = ", ".join(repr(v) for v in self.examples[:5])
            text += f", e.g. {shown}"
        if self.row_numbers:
            text += f" (data rows {', '.join(str(n) for n in self.row_numbers[:5])})"
        return text


@dataclass
class GateResult:
    """Everything a gate found: every check, and where its Data Docs live."""

    gate: str
    success: bool
    checks: list[CheckResult] = field(default_factory=list)
    rows: int = 0
    data_docs: str | None = None
    report_path: str | None = None
    #: suites not run because an earlier suite's critical check failed (the raw gate)
    skipped_suites: list[str] = field(default_factory=list)
    #: rows of each table checked (the mart gate)
    table_rows: dict[str, int] = field(default_factory=dict)

    @property
    def failures(self) -> list[CheckResult]:
        """Failed critical checks: any of these rejects the data."""
        return [c for c in self.checks if not c.success and c.severity == "critical"]

    @property
    def warnings(self) -> list[str]:
        """Messages of failed non-critical checks: reported, never blocking."""
        return [c.message() for c in self.checks if not c.success and c.severity != "critical"]

    def failure_message(self) -> str:
        """A message that names every failed critical check."""
        lines = [
            f"{self.gate} gate rejected the data: {len(self.failures)} critical check(s) failed"
        ]
        lines += [f"  - {c.message()}" for c in self.failures]
        if self.report_path:
            lines.append(f"  report: {self.report_path}")
        return "\n".join(lines)


class GateFailed(Exception):
    """A critical check failed; the message names every failed check."""

    def __init__(self, message: str, result: GateResult | None = None) -> None:
        super().__init__(message)
        self.result = result


__all__ = ["CheckResult", "GateFailed", "GateResult"]
