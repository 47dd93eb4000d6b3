"""Landing: turn a delivered file into a batch of ``raw.order_lines``, or refuse it loudly.

For each file (CSV or Parquet):

1. the batch id is the first 16 hex digits of the file's sha256, so the same file delivered twice
   is the same batch and is loaded once (the second delivery returns status ``"duplicate"``);
2. the file is read and its columns mapped onto the UCI Online Retail names
   (:data:`COLUMN_ALIASES` knows those and the Online Retail II names ``Invoice``, ``Price``,
   ``Customer ID``; any other schema is mapped with a ``column_map.json`` in the data folder,
   e.g. ``{"order_id": "InvoiceNo", "sku": "StockCode", "ts": "InvoiceDate"}``);
3. the raw GX gate validates it (``expectations.raw_gate``);
4. a rejected batch is copied byte for byte to ``quarantine/<batch_id>/`` beside a readable
   ``report.md`` (each failed check and example rows) and ``GateFailed`` is raised; the warehouse
   is not opened for writing;
5. an accepted batch is archived to ``archive/<batch_id>/`` (original bytes) and appended to
   ``raw.order_lines`` with ``raw.batches`` in one transaction.

Files waiting in the landing folder are removed from it once archived or quarantined; a file given
by path elsewhere is only copied.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from mercato.settings import Settings

SUFFIXES = (".csv", ".parquet", ".pq")
COLUMN_MAP_FILE = "column_map.json"

#: Accepted spellings, compared lower-case with everything but letters and digits removed.
COLUMN_ALIASES: dict[str, str] = {
    "invoiceno": "InvoiceNo",
    "invoice": "InvoiceNo",
    "invoicenumber": "InvoiceNo",
    "stockcode": "StockCode",
    "description": "Description",
    "quantity": "Quantity",
    "invoicedate": "InvoiceDate",
    "unitprice": "UnitPrice",
    "price": "UnitPrice",
    "customerid": "CustomerID",
    "country": "Country",
}

RAW_DDL = """
create schema if not exists raw;
create table if not exists raw.order_lines (
    InvoiceNo varchar,
    StockCode varchar,
    Description varchar,
    Quantity bigint,
    InvoiceDate timestamp,
    UnitPrice double,
    CustomerID varchar,
    Country varchar,
    batch_id varchar,
    loaded_at timestamp
);
create table if not exists raw.batches (
    batch_id varchar primary key,
    source_file varchar,
    sha256 varchar,
    row_count bigint,
    loaded_at timestamp,
    status varchar
);
"""


@dataclass
class IngestResult:
    """What happened to one delivered file."""

    batch_id: str
    source_file: str
    rows: int
    status: str  # "loaded" or "duplicate"
    warnings: list[str] = field(default_factory=list)


class UnreadableBatch(Exception):
    """The file could not be read as a table at all (empty, truncated, wrong encoding...)."""


# -- public entry points ------------------------------------------------------------------------


def ingest_landing(settings: Settings) -> list[IngestResult]:
    """Ingest every CSV/Parquet file waiting in the landing folder, oldest name first.

    Batches are independent sets of order lines, so a rejected one (quarantined) does not hold
    back the files after it: every good file is loaded. If any was rejected, ``GateFailed`` is
    raised after the last file, naming each rejected file with its failed checks and each loaded
    one, so the run still stops before the marts are built.
    """
    from expectations import GateFailed

    if not settings.landing_dir.is_dir():
        return []
    files = sorted(
        p for p in settings.landing_dir.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES
    )
    results: list[IngestResult] = []
    rejected: list[tuple[str, GateFailed]] = []
    for path in files:
        try:
            results.append(ingest_file(settings, path))
        except GateFailed as err:
            rejected.append((path.name, err))
    if not rejected:
        return results
    lines = [f"{len(rejected)} of {len(files)} landing files rejected (kept in quarantine):"]
    lines += [f"{name}: {err}" for name, err in rejected]
    if results:
        lines.append(
            "loaded or already loaded: " + ", ".join(Path(r.source_file).name for r in results)
        )
    raise GateFailed("\n".join(lines), rejected[0][1].result)


def ingest_file(
    settings: Settings, path: Path, column_map: dict[str, str] | None = None
) -> IngestResult:
    """Validate, archive and load one file; see the module docstring for the steps."""
    from expectations import GateFailed
    from expectations.raw_gate import parse_columns, readable_failure, validate_batch

    path = Path(path).expanduser().resolve()
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    batch_id = sha256[:16]
    in_landing = path.parent == settings.landing_dir.resolve()

    if _already_loaded(settings, batch_id):
        if in_landing:
            path.unlink()
        return IngestResult(
            batch_id=batch_id,
            source_file=str(path),
            rows=0,
            status="duplicate",
            warnings=[f"{path.name} was already loaded as batch {batch_id}; nothing changed"],
        )

    try:
        frame = map_columns(read_batch(path, data), column_map or _column_map_file(settings))
    except UnreadableBatch as err:
        from expectations import GateResult

        result = GateResult(
            gate=f"raw batch {batch_id}",
            success=False,
            checks=[readable_failure("file is readable", "the file cannot be read", str(err))],
        )
        _quarantine(settings, path, batch_id, result, None, in_landing)
        raise GateFailed(result.failure_message(), result) from err

    parsed = parse_columns(frame)
    result = validate_batch(parsed, settings, batch_id)
    if not result.success:
        _quarantine(settings, path, batch_id, result, parsed, in_landing)
        raise GateFailed(result.failure_message(), result)

    # Copied, not moved: the landing file leaves only once its rows are loaded.
    _keep(path, settings.archive_dir / batch_id, in_landing=False)
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    rows = _load(settings, _typed(parsed, batch_id, loaded_at), path, sha256, batch_id, loaded_at)
    if in_landing:
        path.unlink()
    return IngestResult(
        batch_id=batch_id,
        source_file=str(path),
        rows=rows,
        status="loaded",
        warnings=result.warnings,
    )


# -- reading ------------------------------------------------------------------------------------


def read_batch(path: Path, data: bytes | None = None) -> pd.DataFrame:
    """Read a CSV (as text, every column a string) or a Parquet file (as typed)."""
    data = path.read_bytes() if data is None else data
    if not data.strip():
        raise UnreadableBatch(f"{path.name} is empty (0 data bytes)")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import io

        try:
            return pd.read_parquet(io.BytesIO(data))
        except Exception as err:  # pyarrow raises several types for broken files
            raise UnreadableBatch(f"{path.name} is not a readable Parquet file: {err}") from err
    if suffix != ".csv":
        raise UnreadableBatch(f"{path.name}: unsupported file type {suffix!r} (CSV or Parquet)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise UnreadableBatch(
            f"{path.name} is not valid UTF-8: byte 0x{data[err.start]:02x} at line {line}; "
            "re-export it as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from err
    _check_not_truncated(path, text)
    import io

    try:
        return pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            on_bad_lines="error",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise UnreadableBatch(f"{path.name} is not a well-formed CSV file: {err}") from err


def _check_not_truncated(path: Path, text: str) -> None:
    """A file cut off mid-line (no final newline, fewer fields than the header) is refused."""
    import csv

    if text.endswith(("\n", "\r")):
        return
    lines = text.splitlines()
    if len(lines) < 2:
        return
    header, last = next(csv.reader([lines[0]])), lines[-1]
    try:
        fields = next(csv.reader([last]))
    except (csv.Error, StopIteration):
        fields = []
    if len(fields) < len(header) or last.count('"') % 2:
        raise UnreadableBatch(
            f"{path.name} looks truncated: its last line ({len(lines)}) ends without a newline "
            f"and has {len(fields)} of {len(header)} fields: {last[:80]!r}"
        )


def map_columns(frame: pd.DataFrame, column_map: dict[str, str] | None = None) -> pd.DataFrame:
    """Rename columns to the UCI names: an explicit map first, then the known aliases."""
    explicit = column_map or {}
    renames: dict[str, str] = {}
    for column in frame.columns:
        name = str(column)
        if name in explicit:
            renames[column] = explicit[name]
            continue
        key = re.sub(r"[^a-z0-9]", "", name.lower())
        if key in COLUMN_ALIASES:
            renames[column] = COLUMN_ALIASES[key]
    return frame.rename(columns=renames)


def _column_map_file(settings: Settings) -> dict[str, str] | None:
    path = settings.home / COLUMN_MAP_FILE
    if not path.is_file():
        return None
    mapping = json.loads(path.read_text())
    if not isinstance(mapping, dict):
        raise ValueError(f"{path} must hold a JSON object {{'their column': 'OurColumn'}}")
    return {str(k): str(v) for k, v in mapping.items()}


# -- loading ------------------------------------------------------------------------------------


def _typed(parsed: pd.DataFrame, batch_id: str, loaded_at: datetime) -> pd.DataFrame:
    """The batch in ``raw.order_lines`` types (validated values only, as delivered otherwise)."""

    def text(column: str) -> pd.Series:
        values = parsed[column]
        return values.where(values.isna(), values.astype(str)).astype(object)

    return pd.DataFrame(
        {
            "InvoiceNo": text("InvoiceNo"),
            "StockCode": text("StockCode"),
            "Description": text("Description"),
            "Quantity": parsed["quantity_value"].astype("int64"),
            "InvoiceDate": parsed["invoiced_at"],
            "UnitPrice": parsed["unit_price_value"].astype("float64"),
            "CustomerID": parsed["customer_id_text"],
            "Country": text("Country"),
            "batch_id": batch_id,
            "loaded_at": pd.Timestamp(loaded_at),
        }
    )


def _already_loaded(settings: Settings, batch_id: str) -> bool:
    if not settings.warehouse_path.exists():
        return False
    import duckdb

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'raw' and table_name = 'batches'"
        ).fetchone()[0]
        if not exists:
            return False
        row = con.execute(
            "select count(*) from raw.batches where batch_id = ? and status = 'loaded'", [batch_id]
        ).fetchone()
    return bool(row[0])


def _load(
    settings: Settings,
    typed: pd.DataFrame,
    path: Path,
    sha256: str,
    batch_id: str,
    loaded_at: datetime,
) -> int:
    """Append the batch and its ``raw.batches`` row in one transaction."""
    import duckdb

    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(RAW_DDL)
        con.execute("begin transaction")
        try:
            con.register("batch_frame", typed)
            con.execute("insert into raw.order_lines by name select * from batch_frame")
            con.execute(
                "insert into raw.batches values (?, ?, ?, ?, ?, 'loaded')",
                [batch_id, str(path), sha256, len(typed), loaded_at],
            )
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        finally:
            con.unregister("batch_frame")
    return len(typed)


# -- archive and quarantine ---------------------------------------------------------------------


def _keep(path: Path, folder: Path, in_landing: bool) -> Path:
    """Put the original file, byte for byte, into ``folder``: moved out of the landing folder,
    copied from anywhere else (a user's file is never moved)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if in_landing:
        shutil.move(path, target)
    else:
        shutil.copy2(path, target)
    return target


def _quarantine(
    settings: Settings,
    path: Path,
    batch_id: str,
    result: Any,
    parsed: pd.DataFrame | None,
    in_landing: bool,
) -> Path:
    """Keep the rejected file intact beside a report a person can read."""
    folder = settings.quarantine_dir / batch_id
    _keep(path, folder, in_landing)
    result.report_path = str(folder / "report.md")
    (folder / "report.md").write_text(_report(path, batch_id, result))
    (folder / "report.json").write_text(
        json.dumps(
            {
                "batch_id": batch_id,
                "source_file": str(path),
                "rejected_at": datetime.now(UTC).isoformat(),
                "rows": result.rows,
                "checks": [vars(c) for c in result.checks],
            },
            indent=2,
            default=str,
        )
    )
    return folder


def _report(path: Path, batch_id: str, result: Any) -> str:
    lines = [
        f"# Batch {batch_id} rejected",
        "",
        f"- file: `{path.name}` (kept byte for byte beside this report)",
        f"- rows read: {result.rows}",
        f"- rejected at: {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC",
        "",
        "Nothing from this batch entered the warehouse. Fix the file and deliver it again.",
        "",
        "## Failed critical checks",
        "",
    ]
    for check in result.failures:
        lines.append(f"### {check.name}")
        lines.append("")
        lines.append(check.message())
        if check.example_rows:
            lines.append("")
            columns = list(check.example_rows[0])
            lines.append("| " + " | ".join(columns) + " |")
            lines.append("|" + "---|" * len(columns))
            for row in check.example_rows:
                lines.append("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
        lines.append("")
    if result.warnings:
        lines += ["## Warnings", ""] + [f"- {w}" for w in result.warnings] + [""]
    if result.data_docs:
        lines += [f"GX Data Docs: {result.data_docs}", ""]
    return "\n".join(lines)
