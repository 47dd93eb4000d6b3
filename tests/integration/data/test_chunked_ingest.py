"""Big files of the orders source are read, gated and staged in chunks (issue 19).

``MERCATO_INGEST_CHUNK_ROWS`` is set to 500 so the small generated batch (1,683 lines) is read
in four chunks: every bad batch of the catalogue is refused with the same clear message and
kept in quarantine, a good batch lands row for row as the whole read lands it, and duplicates
that sit in different chunks are caught at the same rate as when the file is read whole.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from data.test_bad_batches import BadBatch, _assert_rejected
from expectations import GateFailed
from mercato.settings import Settings
from warehouse import landing

CHUNK = 500


def _chunked(settings: Settings) -> Settings:
    return dataclasses.replace(settings, ingest_chunk_rows=CHUNK)


def test_bad_batch_in_chunks_is_quarantined_and_warehouse_untouched(
    warehouse_settings: Settings, bad_batch: BadBatch
) -> None:
    settings = _chunked(warehouse_settings)
    path = bad_batch.land(settings)
    _assert_rejected(settings, path, bad_batch.data, bad_batch.expected, in_landing=True)
    assert not list((settings.home / "incoming").glob("*/*")), "staged parts were left behind"


def _raw_rows(settings: Settings, batch_id: str) -> pd.DataFrame:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        frame = con.execute(
            "select * exclude (loaded_at) from raw.order_lines where batch_id = ?", [batch_id]
        ).df()
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_chunked_load_equals_the_whole_load(
    warehouse_settings: Settings, small_frame: pd.DataFrame, tmp_path: Path, suffix: str
) -> None:
    """A new batch (the lines again, renamed products) loads the same rows whole or in chunks."""
    later = small_frame.copy()
    later["Description"] = later["Description"].astype("string") + " (new)"
    path = tmp_path / f"later{suffix}"
    if suffix == ".csv":
        later.to_csv(path, index=False)
    else:
        later.to_parquet(path, row_group_size=300)
    whole_home = tmp_path / "whole"
    shutil.copytree(warehouse_settings.home, whole_home)
    whole = dataclasses.replace(warehouse_settings, home=whole_home)

    chunked = landing.ingest_file(_chunked(warehouse_settings), path)
    at_once = landing.ingest_file(whole, path)
    assert chunked.batch_id == at_once.batch_id
    assert chunked.rows == at_once.rows == len(later)
    assert sorted(chunked.warnings) == sorted(at_once.warnings)
    pd.testing.assert_frame_equal(
        _raw_rows(warehouse_settings, chunked.batch_id), _raw_rows(whole, at_once.batch_id)
    )


def test_duplicates_in_different_chunks_are_caught_at_the_whole_rate(
    warehouse_settings: Settings, small_frame: pd.DataFrame, tmp_path: Path
) -> None:
    """Copies of the first chunk's lines placed in the last chunk: no chunk holds both."""
    copies = small_frame.head(int(len(small_frame) * 0.3))
    frame = pd.concat([small_frame, copies], ignore_index=True)
    data = frame.to_csv(index=False).encode()
    path = tmp_path / "spread_duplicates.csv"
    path.write_bytes(data)

    caught: dict[str, GateFailed] = {}
    for label, settings in (
        ("whole", warehouse_settings),
        ("chunked", _chunked(warehouse_settings)),
    ):
        with pytest.raises(GateFailed) as error:
            landing.ingest_file(settings, path)
        caught[label] = error.value
    whole, chunked = ({c.name: c for c in caught[k].result.checks} for k in ("whole", "chunked"))
    check = "duplicate rate below 20%"
    assert not chunked[check].success
    assert chunked[check].unexpected_count == whole[check].unexpected_count > 0
    assert chunked[check].unexpected_percent == whole[check].unexpected_percent
    assert chunked[check].row_numbers == whole[check].row_numbers
    assert chunked[check].example_rows == whole[check].example_rows
    batch_id = hashlib.sha256(data).hexdigest()[:16]
    assert (warehouse_settings.quarantine_dir / batch_id / path.name).read_bytes() == data
