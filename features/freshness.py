"""When features were last materialized, recorded per online store for staleness checks.

``features.store.materialize`` writes ``<feast_dir>/freshness/<online_store>.json`` after each
successful run; ``features.online.OnlineFeatureReader`` reads it to flag reads served from an
online store that was last filled more than ``settings.feature_max_age_hours`` ago. One record
per store kind, so filling SQLite never makes a stale Redis look fresh.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mercato.settings import Settings


@dataclass(frozen=True)
class Freshness:
    """How old the online features are; ``materialized_at`` is None if never materialized."""

    materialized_at: datetime | None
    age_hours: float | None
    max_age_hours: float

    @property
    def stale(self) -> bool:
        return self.age_hours is None or self.age_hours > self.max_age_hours


def marker_path(settings: Settings) -> Path:
    """The record of the last materialization into the configured online store."""
    return settings.feast_dir / "freshness" / f"{settings.online_store}.json"


def record_materialization(settings: Settings, record: dict[str, Any]) -> Path:
    """Write ``record`` (with an ISO ``materialized_at``) atomically; append it to the log."""
    path = marker_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, sort_keys=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, path)
    with path.with_suffix(".log.jsonl").open("a") as log:
        log.write(text + "\n")
    return path


def read_record(path: Path) -> dict[str, Any] | None:
    """The last materialization record, or None if there is none (or it cannot be parsed)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def freshness_of(
    record: dict[str, Any] | None, max_age_hours: float, now: datetime | None = None
) -> Freshness:
    """Age of the materialization described by ``record`` at ``now`` (default: the current time)."""
    if not record or "materialized_at" not in record:
        return Freshness(None, None, max_age_hours)
    materialized_at = datetime.fromisoformat(record["materialized_at"])
    now = now or datetime.now(UTC)
    return Freshness(materialized_at, (now - materialized_at).total_seconds() / 3600, max_age_hours)
