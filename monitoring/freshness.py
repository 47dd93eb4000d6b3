"""Freshness of every mart and of the online store, as ages against limits.

A mart's *age* is the time since the mart gate last passed (recorded in
``gx/mart_gate_passed.json`` only then, after the marts were rebuilt; a folder built before
that record existed falls back to the mtime of ``gx/mart_row_counts.json``): how long the
models have been fed from the same build. Its *data lag* is the time since its newest
timestamp: a shop whose exports stopped shows it here even when the pipeline runs on schedule.
The online store's age is the time since its last materialization (``features.freshness``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from mercato.settings import Settings


@dataclass(frozen=True)
class Age:
    """One store's age against its limit (``limit_hours`` 0: not checked)."""

    name: str
    age_seconds: float | None
    limit_hours: float
    data_lag_seconds: float | None = None
    latest: str | None = None

    @property
    def stale(self) -> bool:
        if self.limit_hours <= 0:
            return False
        return self.age_seconds is None or self.age_seconds > self.limit_hours * 3600

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "stale": self.stale}


def mart_ages(settings: Settings, limit_hours: float, now: datetime | None = None) -> list[Age]:
    """Every mart the gate checks: time since the gate last passed, and newest timestamp."""
    from expectations.mart_gate import last_pass, mart_tables
    from warehouse import reader

    now = now or datetime.now(UTC)
    passed = last_pass(settings)
    counts = settings.gx_dir / "mart_row_counts.json"
    if passed is not None:
        built: float | None = passed.timestamp()
    else:
        built = counts.stat().st_mtime if counts.is_file() else None
    age = None if built is None else now.timestamp() - built
    columns = reader.query(
        settings,
        "select table_name, column_name from information_schema.columns "
        "where table_schema = 'main' and (data_type like 'TIMESTAMP%' or data_type = 'DATE') "
        "order by table_name, ordinal_position",
    )
    out = []
    for table in mart_tables():
        names = columns.loc[columns["table_name"] == table, "column_name"].tolist()
        latest = None
        if names:
            rows = reader.query(settings, f'select max("{names[0]}") as latest from main."{table}"')
            value = rows["latest"].iloc[0]
            latest = None if value is None or str(value) == "NaT" else _utc(value)
        lag = None if latest is None else (now - latest).total_seconds()
        out.append(
            Age(table, age, limit_hours, lag, None if latest is None else latest.isoformat())
        )
    return out


def online_store_age(settings: Settings, now: datetime | None = None) -> Age:
    """Time since the configured online store was last materialized (None: never)."""
    from features.freshness import freshness_of, marker_path, read_record

    path = marker_path(settings)
    record = read_record(path) if path.is_file() else None
    fresh = freshness_of(record, settings.feature_max_age_hours, now)
    seconds = None if fresh.age_hours is None else fresh.age_hours * 3600
    when = None if fresh.materialized_at is None else fresh.materialized_at.isoformat()
    return Age(f"online_store:{settings.online_store}", seconds, fresh.max_age_hours, None, when)


def _utc(value: Any) -> datetime:
    import pandas as pd

    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()
