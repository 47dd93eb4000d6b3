"""Watching the champions in production: data drift, prediction drift, realised performance
and freshness, one result and one HTML report per run (``pipeline.stages.monitor``).

Above ``models`` (it reads the champions and their reference profiles) and below ``serving``
(whose ``/metrics`` shows the latest result) and ``pipeline``.
"""

from __future__ import annotations

from pathlib import Path

from mercato.settings import Settings


def latest_result_path(settings: Settings) -> Path:
    """The newest monitor result (JSON), which the service's ``/metrics`` reads."""
    return settings.monitoring_dir / "results" / "latest.json"
