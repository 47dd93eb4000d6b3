"""Landing a sessions file: bad rows kept out with their reason, a broken file refused whole."""

from __future__ import annotations

import pandas as pd
import pytest
from fixed_dates import END_DATE

from expectations import GateFailed
from mercato.settings import Settings
from warehouse import landing, reader
from warehouse.synthetic_sessions import write_sessions


def corrupt(path, rows: dict[int, dict[str, str]]) -> None:
    """Overwrite values of some data rows (1-based) of a generated CSV."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for row, values in rows.items():
        for column, value in values.items():
            frame.loc[row - 1, column] = value
    frame.to_csv(path, index=False, lineterminator="\n")


def test_bad_rows_are_kept_out_with_their_reason_and_the_rest_loads(
    settings: Settings, tmp_path
) -> None:
    path = write_sessions(tmp_path / "sessions.csv", 200, seed=4, end_date=END_DATE)
    corrupt(path, {3: {"ExitRates": "1.7"}, 10: {"Month": "Smarch", "Browser": "0"}, 11: {}})
    result = landing.ingest_file(settings, path)
    assert result.status == "loaded" and result.source == "sessions"
    assert result.rows == 198 and result.quarantined_rows == 2
    folder = settings.quarantine_dir / f"rows-{result.batch_id}"
    assert any(str(folder) in w for w in result.warnings)
    kept_out = pd.read_csv(folder / "rejected_rows.csv")
    assert kept_out["data_row"].tolist() == [3, 10]
    assert kept_out["reason"].iloc[0] == "ExitRates is '1.7', not a rate between 0 and 1"
    assert "Month is 'Smarch'" in kept_out["reason"].iloc[1]
    assert "Browser is '0'" in kept_out["reason"].iloc[1]
    assert kept_out["ExitRates"].iloc[0] == 1.7  # the delivered values, as delivered
    report = (folder / "report.md").read_text()
    assert "2 rows of batch" in report and "ExitRates: 1 rows" in report
    loaded = reader.query(settings, "select source_row from raw.sessions order by source_row")
    assert len(loaded) == 198 and 3 not in set(loaded["source_row"])
    assert 11 in set(loaded["source_row"])
    batches = reader.query(settings, "select row_count, source from raw.batches")
    assert batches.iloc[0].tolist() == [198, "sessions"]


def test_a_file_with_too_many_bad_rows_is_refused_whole(settings: Settings, tmp_path) -> None:
    path = write_sessions(tmp_path / "shifted.csv", 100, seed=4, end_date=END_DATE)
    corrupt(path, {row: {"BounceRates": "12"} for row in range(1, 31)})
    with pytest.raises(GateFailed, match="at most 10% of the sessions are bad"):
        landing.ingest_file(settings, path)
    quarantined = list(settings.quarantine_dir.glob("*/shifted.csv"))
    assert len(quarantined) == 1 and quarantined[0].read_bytes() == path.read_bytes()
    assert "BounceRates" in (quarantined[0].parent / "report.md").read_text()
    counts = reader.table_counts(settings) if settings.warehouse_path.exists() else {}
    assert counts.get("raw.sessions", 0) == 0


def test_a_file_without_a_required_column_is_refused(settings: Settings, tmp_path) -> None:
    path = write_sessions(tmp_path / "short.csv", 50, seed=4, end_date=END_DATE)
    frame = pd.read_csv(path, dtype=str).drop(columns=["Revenue"])
    frame.to_csv(path, index=False)
    with pytest.raises(GateFailed, match="required column Revenue is missing"):
        landing.ingest_file(settings, path)
