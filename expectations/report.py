"""The one writer of gate reports: what a person reads in ``quarantine/`` after a rejection.

Every rejected batch and every failed mart gate gets a folder with ``report.md`` (each failed
critical check with example rows, then the warnings) and ``report.json`` (every check, for
tools). The callers decide where the folder is and what else goes in it (the rejected file).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from expectations import GateResult

if TYPE_CHECKING:
    import pandas as pd


def _markdown_table(rows: list[dict[str, Any]]) -> list[str]:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row.get(c, "")) for c in columns) + " |" for row in rows]
    return lines


def _checks_section(result: GateResult, heading: str) -> list[str]:
    lines: list[str] = []
    for check in result.failures:
        lines += [f"{heading} {check.name}", "", check.message()]
        if check.example_rows:
            lines += ["", *_markdown_table(check.example_rows)]
        lines.append("")
    if result.warnings:
        lines += ["## Warnings", ""] + [f"- {w}" for w in result.warnings] + [""]
    if result.data_docs:
        lines += [f"GX Data Docs: {result.data_docs}", ""]
    return lines


def write_report(
    folder: Path,
    result: GateResult,
    title: str,
    preamble: list[str],
    facts: dict[str, Any] | None = None,
) -> Path:
    """Write ``report.md`` and ``report.json`` into ``folder``; returns the Markdown path.

    ``preamble`` are the Markdown lines under the title (what was rejected, what to do);
    ``facts`` go into the JSON beside every check.
    """
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    lines = [f"# {title}", "", *preamble, "", "## Failed critical checks", ""]
    lines += _checks_section(result, "###")
    markdown = folder / "report.md"
    markdown.write_text("\n".join(lines))
    (folder / "report.json").write_text(
        json.dumps(
            {
                **(facts or {}),
                "gate": result.gate,
                "rejected_at": now.isoformat(),
                "rows": result.rows,
                "checks": [vars(c) for c in result.checks],
            },
            indent=2,
            default=str,
        )
    )
    result.report_path = str(markdown)
    return markdown


def write_batch_report(
    folder: Path, file_name: str, batch_id: str, source: str, result: GateResult
) -> Path:
    """The report beside a rejected batch (the file itself is kept there too)."""
    return write_report(
        folder,
        result,
        f"Batch {batch_id} rejected",
        [
            f"- file: `{file_name}` (kept byte for byte beside this report)",
            f"- source: {source}",
            f"- rows read: {result.rows}",
            f"- rejected at: {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC",
            "",
            "Nothing from this batch entered the warehouse. Fix the file and deliver it again.",
        ],
        {"batch_id": batch_id, "source": source, "source_file": file_name},
    )


def write_marts_report(folder: Path, result: GateResult) -> Path:
    """The report of a failed mart gate (the marts themselves stay where they are)."""
    return write_report(
        folder,
        result,
        "Mart gate failed",
        ["Downstream stages must not read these marts until the failures below are fixed."],
    )


def write_rows_report(
    folder: Path,
    file_name: str,
    batch_id: str,
    source: str,
    rows: pd.DataFrame,
    result: GateResult,
    pseudo: Callable[[Any], str | None] | None = None,
) -> Path:
    """The bad rows of a loaded batch (``rejected_rows.csv``: data row, reason, the delivered
    values) beside a report; the batch's other rows are in the warehouse. With ``pseudo``
    (``mercato.privacy.Pseudonymizer``), the report's first rows show customer ids as
    pseudonyms; the CSV keeps what was delivered, for the person who fixes it."""
    from mercato.privacy import scrub

    folder.mkdir(parents=True, exist_ok=True)
    rows.to_csv(folder / "rejected_rows.csv", index=False)
    counts = rows["reason"].str.split("; ").explode().str.split(" ").str[0].value_counts()
    by_column = [f"- {column}: {n} rows" for column, n in counts.items()]
    examples = rows.head(10).to_dict(orient="records")
    if pseudo is not None:
        examples = [scrub(row, pseudo) for row in examples]
    lines = [
        f"# {len(rows)} rows of batch {batch_id} kept out",
        "",
        f"- file: `{file_name}`; source: {source}; rows read: {result.rows}",
        f"- kept out at: {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC",
        "",
        "The other rows of the batch were loaded. Every row below broke a rule; all of them,",
        "with the reason, are in `rejected_rows.csv`. Fix them and deliver them in a new file.",
        "Customer ids are shown as pseudonyms here; the CSV has them as delivered.",
        "",
        "## Broken rules by column",
        "",
        *by_column,
        "",
        "## First rows",
        "",
        *_markdown_table(examples),
        "",
    ]
    markdown = folder / "report.md"
    markdown.write_text("\n".join(lines))
    (folder / "report.json").write_text(
        json.dumps(
            {
                "batch_id": batch_id,
                "source": source,
                "source_file": file_name,
                "rows_read": result.rows,
                "rows_kept_out": len(rows),
                "by_column": {str(k): int(v) for k, v in counts.items()},
                "checks": [vars(c) for c in result.checks if not c.success],
            },
            indent=2,
            default=str,
        )
    )
    return markdown
