"""Chunked reading of raw batches (issue 19): same rows as the whole read, same refusals."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mercato.settings import Settings, duckdb_config, get_settings
from warehouse.chunks import count_rows, iter_chunks
from warehouse.landing import UnreadableBatch, read_batch


def _orders(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "InvoiceNo": [str(536365 + i // 3) for i in range(n)],
            "Description": [f"ITEM é {i}" for i in range(n)],
            "Quantity": [str(i % 7 + 1) for i in range(n)],
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_chunks_concatenate_to_the_whole_read(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"orders{suffix}"
    frame = _orders(1234)
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, row_group_size=300)
    chunks = list(iter_chunks(path, 500))
    assert [len(c) for c in chunks] == [500, 500, 234]
    whole = read_batch(path)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
    assert count_rows(path) == 1234


def test_non_utf8_refused_with_line(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(b"InvoiceNo,Description\n1,ok\n2,caf\xe9\n")
    with pytest.raises(UnreadableBatch, match=r"not valid UTF-8: byte 0xe9 at line 3"):
        list(iter_chunks(path, 1))
    with pytest.raises(UnreadableBatch, match=r"byte 0xe9 at line 3"):
        read_batch(path)


def test_truncated_csv_refused(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("InvoiceNo,Description,Quantity\n1,a,2\n2,b")
    with pytest.raises(UnreadableBatch, match="looks truncated"):
        list(iter_chunks(path, 1))


def test_empty_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("")
    with pytest.raises(UnreadableBatch, match="empty"):
        list(iter_chunks(path, 10))


def test_memory_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MERCATO_HOME", str(tmp_path))
    monkeypatch.delenv("MERCATO_INGEST_CHUNK_ROWS", raising=False)
    monkeypatch.delenv("MERCATO_DUCKDB_MEMORY_LIMIT", raising=False)
    settings = get_settings()
    assert settings.ingest_chunk_rows == 1_000_000
    assert duckdb_config(settings) == {
        "memory_limit": "2GB",
        "temp_directory": str(tmp_path / "warehouse" / "duckdb_tmp"),
    }
    monkeypatch.setenv("MERCATO_INGEST_CHUNK_ROWS", "0")
    with pytest.raises(ValueError, match="MERCATO_INGEST_CHUNK_ROWS=.* must be 1 or more"):
        get_settings()
    monkeypatch.setenv("MERCATO_INGEST_CHUNK_ROWS", "500")
    monkeypatch.setenv("MERCATO_DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="MERCATO_DUCKDB_MEMORY_LIMIT"):
        get_settings()


def test_duckdb_applies_the_limit(tmp_path: Path) -> None:
    import duckdb

    settings = Settings(home=tmp_path, duckdb_memory_limit="256MB")
    with duckdb.connect(str(tmp_path / "w.duckdb"), config=duckdb_config(settings)) as con:
        limit = con.execute("select current_setting('memory_limit')").fetchone()[0]
        temp = con.execute("select current_setting('temp_directory')").fetchone()[0]
    assert limit.replace(" ", "") in ("256.0MB", "244.1MiB", "256MB")
    assert temp == str(settings.duckdb_temp_dir)
