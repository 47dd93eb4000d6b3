"""The catalogue of bad batches: each ends in a clear message, and a rejected one is kept intact
in quarantine while the warehouse stays byte-for-byte what it was (a hash of every table)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from expectations import GateFailed
from mercato.settings import Settings
from warehouse import landing, reader


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


def _rows(frame: pd.DataFrame, n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).choice(len(frame), size=n, replace=False)


def missing_column(frame: pd.DataFrame) -> bytes:
    return _csv(frame.drop(columns=["UnitPrice"]))


def renamed_column(frame: pd.DataFrame) -> bytes:
    return _csv(frame.rename(columns={"Quantity": "Qty"}))


def price_as_text(frame: pd.DataFrame) -> bytes:
    bad = frame.astype({"UnitPrice": object})
    bad.loc[_rows(bad, 5), "UnitPrice"] = "£2.50"
    return _csv(bad)


def unparseable_dates(frame: pd.DataFrame) -> bytes:
    bad = frame.copy()
    bad.loc[_rows(bad, 4), "InvoiceDate"] = "31/31/2011 25:61"
    return _csv(bad)


def empty_file(frame: pd.DataFrame) -> bytes:
    return b""


def header_only(frame: pd.DataFrame) -> bytes:
    return _csv(frame.head(0))


def truncated_csv(frame: pd.DataFrame) -> bytes:
    data = _csv(frame)
    return data[: len(data) // 2 + 7]


def non_utf8(frame: pd.DataFrame) -> bytes:
    bad = frame.copy()
    bad.loc[_rows(bad, 3), "Description"] = "GIFT VOUCHER £10"
    return bad.to_csv(index=False).encode("latin-1")


def null_invoice_numbers(frame: pd.DataFrame) -> bytes:
    bad = frame.copy()
    bad.loc[_rows(bad, int(len(bad) * 0.03)), "InvoiceNo"] = None
    return _csv(bad)


def negative_prices(frame: pd.DataFrame) -> bytes:
    bad = frame.copy()
    sales = bad.index[~bad["InvoiceNo"].str.startswith("A")]
    bad.loc[sales[:6], "UnitPrice"] = -3.75
    return _csv(bad)


def future_dates(frame: pd.DataFrame) -> bytes:
    bad = frame.copy()
    later = (datetime.now() + timedelta(days=40)).strftime("%Y-%m-%d %H:%M:%S")
    bad.loc[_rows(bad, 8), "InvoiceDate"] = later
    return _csv(bad)


def _with_copies(frame: pd.DataFrame, share: float) -> pd.DataFrame:
    """``frame`` plus exact copies of its first lines, ``share`` of its length."""
    return pd.concat([frame, frame.head(int(len(frame) * share))], ignore_index=True)


def duplicate_rows(frame: pd.DataFrame) -> bytes:
    # a third of the lines again: about half of all lines are copies of another line
    return _csv(_with_copies(frame, 1 / 3))


REJECTED: list[tuple[str, Callable[[pd.DataFrame], bytes], list[str]]] = [
    ("missing_column.csv", missing_column, ["column UnitPrice is present", "missing"]),
    ("renamed_column.csv", renamed_column, ["column Quantity is present", "'Qty'"]),
    ("price_as_text.csv", price_as_text, ["UnitPrice is a number", "5 rows", "£2.50"]),
    ("bad_dates.csv", unparseable_dates, ["InvoiceDate is a timestamp", "31/31/2011 25:61"]),
    ("empty.csv", empty_file, ["file is readable", "empty"]),
    ("header_only.csv", header_only, ["batch has rows", "no data rows"]),
    ("truncated.csv", truncated_csv, ["file is readable", "truncated"]),
    ("latin1.csv", non_utf8, ["file is readable", "not valid UTF-8", "0xa3"]),
    (
        "null_invoices.csv",
        null_invoice_numbers,
        ["InvoiceNo is never empty", "rows fail", "data rows"],
    ),
    ("negative_prices.csv", negative_prices, ["UnitPrice is not negative", "-3.75"]),
    ("future_dates.csv", future_dates, ["InvoiceDate is not in the future", "8 rows"]),
    (
        "duplicate_rows.csv",
        duplicate_rows,
        ["duplicate rate below 20%", "more than 20% of lines are exact copies of another line"],
    ),
]


@dataclass(frozen=True)
class BadBatch:
    """A bad batch of ``REJECTED``, made from ``small_frame`` (the ``bad_batch`` fixture of
    the conftest gives each in turn), and the fragments its refusal message must hold."""

    name: str
    data: bytes
    expected: list[str]

    def land(self, settings: Settings) -> Path:
        """Deliver the batch into ``settings``' landing folder; returns its path there."""
        path = settings.landing_dir / self.name
        path.write_bytes(self.data)
        return path


def _assert_rejected(
    settings: Settings, path: Path, data: bytes, expected: list[str], in_landing: bool
) -> GateFailed:
    before = reader.table_hashes(settings)
    with pytest.raises(GateFailed) as caught:
        landing.ingest_file(settings, path)
    message = str(caught.value)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in message:\n{message}"

    batch_id = hashlib.sha256(data).hexdigest()[:16]
    folder = settings.quarantine_dir / batch_id
    assert (folder / path.name).read_bytes() == data, "quarantined file is not the delivered one"
    report = (folder / "report.md").read_text()
    assert f"Batch {batch_id} rejected" in report
    for check in caught.value.result.failures:
        assert check.name in report
    assert not (settings.archive_dir / batch_id).exists()
    assert path.exists() != in_landing, "a landed file leaves the landing folder"
    assert reader.table_hashes(settings) == before, "a rejected batch changed the warehouse"
    return caught.value


def test_bad_batch_is_quarantined_and_warehouse_untouched(
    warehouse_settings: Settings, bad_batch: BadBatch
) -> None:
    path = bad_batch.land(warehouse_settings)
    _assert_rejected(warehouse_settings, path, bad_batch.data, bad_batch.expected, in_landing=True)


def test_truncated_parquet_is_rejected(
    warehouse_settings: Settings, small_frame: pd.DataFrame, tmp_path: Path
) -> None:
    whole = tmp_path / "whole.parquet"
    small_frame.to_parquet(whole, index=False)
    data = whole.read_bytes()[:-100]
    path = tmp_path / "truncated.parquet"
    path.write_bytes(data)
    _assert_rejected(
        warehouse_settings,
        path,
        data,
        ["file is readable", "not a readable Parquet file"],
        in_landing=False,
    )


def test_every_failed_check_is_named(
    warehouse_settings: Settings, small_frame: pd.DataFrame
) -> None:
    """A batch with several defects reports all of them, not just the first."""
    bad = small_frame.copy()
    bad.loc[bad.index[:3], "UnitPrice"] = -1.0
    bad.loc[bad.index[3:6], "InvoiceNo"] = None
    bad.loc[bad.index[6:9], "InvoiceDate"] = "yesterday"
    data = _csv(bad)
    path = warehouse_settings.landing_dir / "many_defects.csv"
    path.write_bytes(data)
    error = _assert_rejected(
        warehouse_settings,
        path,
        data,
        ["UnitPrice is not negative", "InvoiceNo is never empty", "InvoiceDate is a timestamp"],
        in_landing=True,
    )
    assert len(error.result.failures) == 3


def test_extra_column_is_loaded_with_a_warning(
    warehouse_settings: Settings, small_frame: pd.DataFrame, tmp_path: Path
) -> None:
    extra = small_frame.assign(Discount=0.1)
    path = tmp_path / "extra_column.csv"
    extra.to_csv(path, index=False)
    before = reader.table_counts(warehouse_settings)["raw.order_lines"]
    result = landing.ingest_file(warehouse_settings, path)
    assert result.status == "loaded"
    assert any("Discount" in w and "ignored" in w for w in result.warnings), result.warnings
    after = reader.read_table(warehouse_settings, "raw.order_lines")
    assert len(after) == before + len(small_frame)
    assert "Discount" not in after.columns


def test_some_duplicate_rows_load_with_a_warning(
    warehouse_settings: Settings, small_frame: pd.DataFrame, tmp_path: Path
) -> None:
    """Between 3% and 20% of lines copied: a warning, and the batch loads as delivered."""
    batch = _with_copies(small_frame, 0.05)
    copied = batch.duplicated(keep=False).mean()
    assert 0.03 < copied < 0.20, f"{copied:.1%} of lines are copies: not a warning case"
    path = tmp_path / "some_duplicates.csv"
    batch.to_csv(path, index=False)
    before = reader.table_counts(warehouse_settings)["raw.order_lines"]
    result = landing.ingest_file(warehouse_settings, path)
    assert result.status == "loaded"
    assert result.rows == len(batch)
    duplicates = [w for w in result.warnings if w.startswith("duplicate rate below 3%")]
    assert len(duplicates) == 1, result.warnings
    assert "more than 3% of lines are exact copies" in duplicates[0]
    assert not any("below 20%" in w for w in result.warnings), "the 20% check is critical"
    after = reader.table_counts(warehouse_settings)["raw.order_lines"]
    assert after == before + len(batch)


def test_same_batch_twice_is_loaded_once(
    warehouse_settings: Settings, small_frame: pd.DataFrame, tmp_path: Path
) -> None:
    """The built warehouse already holds this exact file: delivering it again changes nothing."""
    path = warehouse_settings.landing_dir / "again.csv"
    small_frame.to_csv(path, index=False)
    before = reader.table_hashes(warehouse_settings)
    archived = sorted(p.name for p in warehouse_settings.archive_dir.iterdir())
    [result] = landing.ingest_landing(warehouse_settings)
    assert result.status == "duplicate"
    assert result.rows == 0
    assert "already loaded" in result.warnings[0]
    assert not path.exists()
    assert reader.table_hashes(warehouse_settings) == before
    assert sorted(p.name for p in warehouse_settings.archive_dir.iterdir()) == archived


def test_a_rejected_landing_file_does_not_hold_back_the_others(
    warehouse_settings: Settings, small_frame: pd.DataFrame
) -> None:
    """Every good file in the landing folder loads; the run still fails, naming the bad one."""
    folder = warehouse_settings.landing_dir
    first, last = _csv(small_frame.iloc[:300]), _csv(small_frame.iloc[300:600])
    bad = missing_column(small_frame)
    (folder / "1_first.csv").write_bytes(first)
    (folder / "2_bad.csv").write_bytes(bad)
    (folder / "3_last.csv").write_bytes(last)
    before = reader.table_counts(warehouse_settings)["raw.order_lines"]

    with pytest.raises(GateFailed) as caught:
        landing.ingest_landing(warehouse_settings)
    message = str(caught.value)
    assert message.startswith("1 of 3 landing files rejected")
    assert "2_bad.csv: raw batch" in message and "column UnitPrice is present" in message
    assert "loaded or already loaded: 1_first.csv, 3_last.csv" in message
    assert caught.value.result.failures

    assert reader.table_counts(warehouse_settings)["raw.order_lines"] == before + 600
    batch_id = hashlib.sha256(bad).hexdigest()[:16]
    assert (warehouse_settings.quarantine_dir / batch_id / "2_bad.csv").read_bytes() == bad
    for data in (first, last):
        assert (warehouse_settings.archive_dir / hashlib.sha256(data).hexdigest()[:16]).is_dir()
    assert not any(folder.iterdir()), "every file left the landing folder"
