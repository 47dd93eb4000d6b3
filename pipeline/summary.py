"""A short human summary of a pipeline run: rows per layer, metrics per model, versions."""

from __future__ import annotations

from typing import Any

from mercato.names import family_names


def format_summary(summary: dict[str, Any]) -> str:
    """Render ``run_all``'s summary as a few readable lines for the terminal."""
    lines = ["", "Mercato run summary", "==================="]
    for batch in summary.get("ingest", {}).get("batches", []):
        lines.append(f"batch {batch['batch_id']}: {batch['rows']:,} rows ({batch['status']})")
        lines.extend(f"  warning: {w}" for w in batch.get("warnings", []))
    counts = summary.get("transform", {}).get("row_counts", {})
    if counts:
        lines.append("rows per table:")
        width = max(len(name) for name in counts)
        lines.extend(f"  {name:<{width}}  {rows:>10,}" for name, rows in counts.items())
    for family in family_names():
        result = summary.get(f"train_{family}")
        if not result:
            continue
        metrics = result.get("metrics", {})
        shown = ", ".join(
            f"{k}={v:.4f}" for k, v in sorted(metrics.items()) if isinstance(v, int | float)
        )
        if result.get("version") is None:
            lines.append(f"{family}: {result.get('decision', 'not registered')}")
            continue
        verdict = "champion" if result.get("promoted") else "not promoted"
        lines.append(
            f"{family}: {result.get('name', '')} v{result.get('version', '?')} ({verdict})"
        )
        if shown:
            lines.append(f"  {shown}")
    monitored = summary.get("monitor", {})
    if monitored.get("report"):
        verdict = (
            f"{len(monitored.get('alerts', []))} alert(s)" if monitored.get("alerts") else "ok"
        )
        lines.append(f"monitor: {verdict}, report {monitored['report']}")
    champions = summary.get("champions", {}).get("champions", {})
    if champions:
        lines.append("champions: " + ", ".join(f"{k} v{v}" for k, v in champions.items()))
    return "\n".join(lines)
