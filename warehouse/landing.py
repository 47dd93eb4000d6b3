"""Landing: turn a delivered file into a batch of its source's raw table, or refuse it loudly.

For each file (CSV or Parquet), whatever its source:

1. the batch id is derived from the file's content (the first 16 hex digits of its sha256),
   so the same file delivered twice is the same batch and is loaded once (the second delivery
   returns status ``"duplicate"``);
2. the file is read, its source recognised by its columns (``warehouse.sources.recognise``;
   or named by the caller) and its columns mapped onto the source's names (the source's
   aliases, or a ``column_map.json`` in the data folder, e.g. ``{"sku": "StockCode"}``);
3. the source parses it and its raw gate (``expectations.raw_gate``, a pure check) validates it;
4. a rejected batch is copied byte for byte to ``quarantine/<batch_id>/`` beside a readable
   ``report.md`` (each failed check and example rows) and ``GateFailed`` is raised; the
   warehouse is not opened for writing. A file that matches no source is refused the same way,
   with the columns each source expects;
5. an accepted batch is archived to ``archive/<batch_id>/`` (original bytes) and appended to
   the source's raw table with its ``raw.batches`` row in one transaction.

Files waiting in the landing folder are removed from it once archived or quarantined; a file
given by path elsewhere is only copied.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from expectations import CheckResult, GateFailed, GateResult
from mercato.settings import Settings, duckdb_config
from warehouse.sources import Source, UnknownSource, content_id, get_source, recognise

if TYPE_CHECKING:
    import duckdb

SUFFIXES = (".csv", ".parquet", ".pq")
COLUMN_MAP_FILE = "column_map.json"

BATCHES_DDL = """
create schema if not exists raw;
create table if not exists raw.batches (
    batch_id varchar primary key,
    source_file varchar,
    sha256 varchar,
    row_count bigint,
    loaded_at timestamp,
    status varchar,
    source varchar
);
alter table raw.batches add column if not exists source varchar;
"""


@dataclass
class IngestResult:
    """What happened to one delivered file."""

    batch_id: str
    source_file: str
    rows: int
    status: str  # "loaded" or "duplicate"
    warnings: list[str] = field(default_factory=list)
    source: str = ""
    #: bad rows of a loaded batch kept in ``quarantine/rows-<batch_id>/`` (row-level sources)
    quarantined_rows: int = 0
    #: lines of forgotten customers dropped (``mercato forget``'s suppression list)
    suppressed_rows: int = 0


@dataclass(frozen=True)
class _Batch:
    """The delivered file of an accepted batch and what its raw rows are stamped with."""

    path: Path
    sha256: str
    batch_id: str
    source: Source
    loaded_at: datetime
    in_landing: bool


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


def ensure_raw_tables(settings: Settings) -> list[str]:
    """Create every declared source's raw table (empty) and ``raw.batches`` if missing.

    dbt's staging models read every source's table, so a source that has delivered nothing yet
    must still have one: its marts are then empty, and the families that read them skip.
    Returns the tables that exist afterwards.
    """
    import duckdb

    from warehouse.sources import sources

    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    declared = sources(settings)
    with duckdb.connect(str(settings.warehouse_path), config=duckdb_config(settings)) as con:
        for source in declared:
            con.execute(source.ddl())
        con.execute(BATCHES_DDL)
    return [s.qualified_table for s in declared]


def ingest_file(
    settings: Settings,
    path: Path,
    column_map: dict[str, str] | None = None,
    source: str | None = None,
) -> IngestResult:
    """Validate, archive and load one file; see the module docstring for the steps.

    ``source`` names the file's source; by default it is recognised by the file's columns.
    """
    from expectations.raw_gate import readable_failure, validate_batch

    path = Path(path).expanduser().resolve()
    with path.open("rb") as handle:  # streamed: a big file is never held whole for its hash
        sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
    in_landing = path.parent == settings.landing_dir.resolve()
    column_map = column_map or _column_map_file(settings)

    def refuse(check: str, description: str, error: str, batch_id: str, kind: str) -> GateFailed:
        result = GateResult(
            gate=f"raw batch {batch_id}",
            success=False,
            checks=[readable_failure(check, description, error)],
        )
        _quarantine(settings, path, batch_id, kind, result, in_landing)
        return GateFailed(result.failure_message(), result)

    # The source first, from the header alone: a duplicate delivery is then found unread.
    try:
        kind = get_source(source, settings) if source else None
        if kind is None:
            kind = recognise(read_columns(path), settings, column_map)
    except UnreadableBatch as err:
        raise refuse(
            "file is readable", "the file cannot be read", str(err), content_id(sha256), "unknown"
        ) from err
    except UnknownSource as err:
        raise refuse(
            "file matches a source",
            "no source has these columns",
            str(err),
            content_id(sha256),
            "unknown",
        ) from err
    batch_id = kind.batch_id(sha256)
    if _already_loaded(settings, batch_id):
        if in_landing:
            path.unlink()
        return IngestResult(
            batch_id=batch_id,
            source_file=str(path),
            rows=0,
            status="duplicate",
            warnings=[f"{path.name} was already loaded as batch {batch_id}; nothing changed"],
            source=kind.name,
        )
    if kind.chunkable and _rows_above(path, settings.ingest_chunk_rows):
        return _ingest_chunked(settings, path, kind, column_map, sha256, batch_id, in_landing)
    data = path.read_bytes()
    try:
        raw = read_batch(path, data)
    except UnreadableBatch as err:
        raise refuse(
            "file is readable", "the file cannot be read", str(err), batch_id, kind.name
        ) from err
    frame = kind.map_columns(raw, column_map)
    delivered = [str(c) for c in frame.columns]
    parsed = kind.parse(frame)
    result = validate_batch(parsed, kind.suites(delivered, None), settings, batch_id, delivered)
    if not result.success:
        _quarantine(settings, path, batch_id, kind.name, result, in_landing)
        raise GateFailed(result.failure_message(), result)

    warnings = list(result.warnings)
    kept_out = 0
    if kind.reason_column is not None:
        bad = parsed[kind.reason_column].notna().to_numpy()
        if bad.any():
            folder = _quarantine_rows(settings, path, batch_id, kind, parsed, delivered, result)
            kept_out = int(bad.sum())
            warnings.append(f"{kept_out} bad rows kept out of the warehouse: {folder}")
            parsed = parsed[~bad]

    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    rows = kind.to_rows(parsed).assign(batch_id=batch_id, loaded_at=pd.Timestamp(loaded_at))
    rows, dropped = drop_suppressed(settings, rows)
    batch = _Batch(path, sha256, batch_id, kind, loaded_at, in_landing)
    return _finish_batch(settings, batch, rows, warnings, dropped, kept_out)


def _rows_above(path: Path, limit: int) -> bool:
    """True when the file has more data rows than ``limit`` (False when it cannot be told)."""
    from warehouse.chunks import count_rows

    try:
        return count_rows(path) > limit
    except UnreadableBatch:
        return False  # the whole read refuses it with its usual message


def _ingest_chunked(
    settings: Settings,
    path: Path,
    kind: Source,
    column_map: dict[str, str] | None,
    sha256: str,
    batch_id: str,
    in_landing: bool,
) -> IngestResult:
    """``ingest_file`` for a big file of a chunkable source, one chunk in memory at a time.

    Every chunk is parsed and gated by the source's suites (without uniqueness checks and
    without rebuilding the Data Docs); while every chunk passes, its rows are converted and
    staged as ``incoming/<batch>/part-*.parquet``, and each row's fingerprint as ``fp-*``.
    A failed schema check stops at once (no later chunk can differ); a failed value check stops
    the staging but not the gating, so the counts in the report cover the whole file. The
    results are then merged as GX would judge the whole batch, uniqueness is counted over all
    fingerprint parts in DuckDB, and only a passing batch is inserted, in one transaction.
    """
    from expectations.chunked import ROW, UNIQUE, merge_chunks, uniqueness_checks
    from expectations.context import EXAMPLE_ROWS, build_data_docs
    from expectations.raw_gate import expectation_kind, readable_failure, validate_batch
    from warehouse.chunks import iter_chunks

    staging = settings.home / "incoming" / batch_id
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    loaded_at = datetime.now(UTC).replace(tzinfo=None)
    per_chunk: list[list[CheckResult]] = []
    suites = None
    delivered: list[str] = []
    staging_rows, gating_complete, offset, dropped = True, True, 0, 0
    try:
        try:
            for number, raw in enumerate(iter_chunks(path, settings.ingest_chunk_rows)):
                raw.index = pd.RangeIndex(offset, offset + len(raw))
                offset += len(raw)
                frame = kind.map_columns(raw, column_map)
                delivered = [str(c) for c in frame.columns]
                parsed = kind.parse(frame)
                if suites is None:
                    suites = kind.suites(delivered, None)
                result = validate_batch(
                    parsed,
                    suites,
                    settings,
                    batch_id,
                    delivered,
                    update_docs=False,
                    without_kinds=frozenset({UNIQUE}),
                )
                per_chunk.append(result.checks)
                if result.skipped_suites:
                    staging_rows = gating_complete = False
                    break  # a schema failure: no later chunk can differ, value checks did not run
                part = f"{number:05d}.parquet"
                # fingerprints of every chunk, failing or not: uniqueness is judged on them all
                shown = [c for c in _unique_columns(suites) if c in parsed.columns]
                if shown:
                    parsed[shown].assign(**{ROW: parsed.index.to_numpy()}).to_parquet(
                        staging / f"fp-{part}", index=False
                    )
                staging_rows = staging_rows and result.success
                if not staging_rows:
                    continue  # rows are converted only while every chunk so far has passed
                rows = kind.to_rows(parsed).assign(
                    batch_id=batch_id, loaded_at=pd.Timestamp(loaded_at)
                )
                rows, gone = drop_suppressed(settings, rows)
                dropped += gone
                rows.to_parquet(staging / f"part-{part}", index=False)
        except UnreadableBatch as err:
            result = GateResult(
                gate=f"raw batch {batch_id}",
                success=False,
                checks=[readable_failure("file is readable", "the file cannot be read", str(err))],
            )
            _quarantine(settings, path, batch_id, kind.name, result, in_landing)
            raise GateFailed(result.failure_message(), result) from err

        checks = merge_chunks(per_chunk, EXAMPLE_ROWS)
        if gating_complete and suites is not None:
            unique = [e for s in suites for e in s.expectations if expectation_kind(e) == UNIQUE]
            if unique:
                checks += uniqueness_checks(settings, unique, staging, EXAMPLE_ROWS)
        result = GateResult(
            gate=f"raw batch {batch_id}",
            success=not any(not c.success and c.severity == "critical" for c in checks),
            checks=checks,
            rows=offset,
            data_docs=build_data_docs(settings),
        )
        if not result.success:
            _quarantine(settings, path, batch_id, kind.name, result, in_landing)
            raise GateFailed(result.failure_message(), result)

        parts = sorted(staging.glob("part-*.parquet"))
        batch = _Batch(path, sha256, batch_id, kind, loaded_at, in_landing)
        return _finish_batch(settings, batch, parts, list(result.warnings), dropped)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _finish_batch(
    settings: Settings,
    batch: _Batch,
    rows: pd.DataFrame | list[Path],
    warnings: list[str],
    dropped: int,
    kept_out: int = 0,
) -> IngestResult:
    """Archive, redact, load and release an accepted batch: the end of both ingest paths.

    ``rows`` are the converted rows (whole read) or their staged Parquet parts (chunked read);
    ``dropped`` lines of forgotten customers were already taken out of them, and ``kept_out``
    bad rows quarantined.
    """
    # Copied, not moved: the landing file leaves only once its rows are loaded.
    archived = _keep(batch.path, settings.archive_dir / batch.batch_id, in_landing=False)
    if dropped:
        warnings.append(f"{dropped} lines of forgotten customers dropped (mercato forget)")
        _redact_archived(settings, archived, batch.batch_id)
    count = _load(settings, batch, rows)
    if batch.in_landing:
        batch.path.unlink()
    return IngestResult(
        batch_id=batch.batch_id,
        source_file=str(batch.path),
        rows=count,
        status="loaded",
        warnings=warnings,
        source=batch.source.name,
        quarantined_rows=kept_out,
        suppressed_rows=dropped,
    )


def _unique_columns(suites: list[Any]) -> list[str]:
    """The columns the uniqueness checks read and show (staged beside each chunk's rows)."""
    from expectations.chunked import UNIQUE
    from expectations.raw_gate import expectation_kind

    columns: list[str] = []
    for suite in suites:
        for e in suite.expectations:
            if expectation_kind(e) == UNIQUE:
                for c in [e.column, *(e.meta or {}).get("show", [])]:
                    if c not in columns:
                        columns.append(c)
    return columns


def _suppressed_matcher(settings: Settings):  # type: ignore[no-untyped-def]
    """True for a customer id whose pseudonym is on the suppression list."""
    from mercato.privacy import Pseudonymizer, suppressed

    gone = suppressed(settings.home)
    pseudo = Pseudonymizer(settings.home)
    return lambda value: pseudo(value) in gone


def _redact_archived(settings: Settings, archived: Path, batch_id: str) -> None:
    """The archived copy of a redelivered batch, without the forgotten customers' lines."""
    from mercato.privacy import log_erasure
    from warehouse.redact import rewrite_table_file

    n = rewrite_table_file(archived, _suppressed_matcher(settings))
    where = str(archived.relative_to(settings.home))
    log_erasure(settings.home, [{"kind": "archive", "where": where, "lines": n, "batch": batch_id}])


def drop_suppressed(settings: Settings, rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """``rows`` without the lines of forgotten customers, and how many were dropped.

    A line goes when the pseudonym of any customer-id column's value is on the home's
    suppression list (``mercato.privacy``): the list holds keyed hashes, never ids.
    """
    from mercato.privacy import Pseudonymizer, is_customer_column, suppressed

    gone = suppressed(settings.home)
    columns = [c for c in rows.columns if is_customer_column(c)]
    if not gone or not columns or rows.empty:
        return rows, 0
    pseudo = Pseudonymizer(settings.home)
    hit = pd.Series(False, index=rows.index)
    for column in columns:
        values = rows[column]
        forgotten = [v for v in values.dropna().unique() if pseudo(v) in gone]
        hit |= values.isin(forgotten)
    n = int(hit.sum())
    return (rows[~hit], n) if n else (rows, 0)


# -- reading ------------------------------------------------------------------------------------


def _file_kind(path: Path, data: bytes) -> str:
    """``"parquet"`` or ``"csv"``; ``UnreadableBatch`` for an empty file or another type."""
    if not data.strip():
        raise UnreadableBatch(f"{path.name} is empty (0 data bytes)")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix != ".csv":
        raise UnreadableBatch(f"{path.name}: unsupported file type {suffix!r} (CSV or Parquet)")
    return "csv"


def _not_parquet(path: Path, err: Exception) -> UnreadableBatch:
    return UnreadableBatch(f"{path.name} is not a readable Parquet file: {err}")


def _utf8(path: Path, data: bytes) -> str:
    """The file as text; ``UnreadableBatch`` naming the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise UnreadableBatch(
            f"{path.name} is not valid UTF-8: byte 0x{data[err.start]:02x} at line {line}; "
            "re-export it as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from err


def read_batch(path: Path, data: bytes | None = None) -> pd.DataFrame:
    """Read a CSV (as text, every column a string) or a Parquet file (as typed)."""
    import io

    data = path.read_bytes() if data is None else data
    if _file_kind(path, data) == "parquet":
        try:
            return pd.read_parquet(io.BytesIO(data))
        except Exception as err:  # pyarrow raises several types for broken files
            raise _not_parquet(path, err) from err
    text = _utf8(path, data)
    _check_not_truncated(path, text)
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


def read_columns(path: Path) -> list[str]:
    """The column names of a CSV header or a Parquet schema, without reading the rows.

    Reads the first line (CSV) or the footer (Parquet) only, so a big file is recognised
    without being loaded.
    """
    import csv

    with path.open("rb") as handle:
        head = handle.read(65_536)
        if _file_kind(path, head if head.strip() else b"") == "parquet":
            import pyarrow.parquet as pq

            try:
                return list(pq.read_schema(path).names)
            except Exception as err:  # pyarrow raises several types for broken files
                raise _not_parquet(path, err) from err
        if b"\n" not in head:  # a header line longer than the first block
            handle.seek(0)
            head = handle.readline()
    header = _utf8(path, head.split(b"\n", 1)[0])
    return next(csv.reader([header.rstrip("\r")]), [])


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


def _column_map_file(settings: Settings) -> dict[str, str] | None:
    path = settings.home / COLUMN_MAP_FILE
    if not path.is_file():
        return None
    mapping = json.loads(path.read_text())
    if not isinstance(mapping, dict):
        raise ValueError(f"{path} must hold a JSON object {{'their column': 'OurColumn'}}")
    return {str(k): str(v) for k, v in mapping.items()}


# -- loading ------------------------------------------------------------------------------------


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


def _load(settings: Settings, batch: _Batch, rows: pd.DataFrame | list[Path]) -> int:
    """Append the batch to its raw table and its ``raw.batches`` row in one transaction.

    ``rows`` is a frame (whole read) or the Parquet parts a chunked read staged. Every declared
    source's raw table is created first (empty if it has sent nothing), so dbt, whose staging
    reads them all, can build after any first batch. Returns the rows loaded.
    """
    import duckdb

    from warehouse.sources import sources

    source = batch.source
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path), config=duckdb_config(settings)) as con:
        for declared in {s.name: s for s in [*sources(settings), source]}.values():
            con.execute(declared.ddl())
        con.execute(BATCHES_DDL)
        con.execute("begin transaction")
        try:
            count = _insert_rows(con, source, rows, batch.batch_id)
            con.execute(
                "insert into raw.batches by name select ? as batch_id, ? as source_file, "
                "? as sha256, ? as row_count, ? as loaded_at, 'loaded' as status, ? as source",
                [
                    batch.batch_id,
                    str(batch.path),
                    batch.sha256,
                    count,
                    batch.loaded_at,
                    source.name,
                ],
            )
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    return count


def _insert_rows(
    con: duckdb.DuckDBPyConnection, source: Source, rows: pd.DataFrame | list[Path], batch_id: str
) -> int:
    """Insert a frame, or every staged Parquet part, into the source's raw table; returns rows."""
    if isinstance(rows, pd.DataFrame):
        con.register("batch_frame", rows)
        try:
            con.execute(f"insert into {source.qualified_table} by name select * from batch_frame")
        finally:
            con.unregister("batch_frame")
        return len(rows)
    if not rows:
        return 0
    con.execute(
        f"insert into {source.qualified_table} by name "
        "select * from read_parquet(?, union_by_name=true)",
        [[str(p) for p in rows]],
    )
    row = con.execute(
        f"select count(*) from {source.qualified_table} where batch_id = ?", [batch_id]
    ).fetchone()
    return int(row[0])


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
    source: str,
    result: GateResult,
    in_landing: bool,
) -> Path:
    """Keep the rejected file intact beside a report a person can read."""
    from expectations.report import write_batch_report

    folder = settings.quarantine_dir / batch_id
    _keep(path, folder, in_landing)
    write_batch_report(folder, path.name, batch_id, source, result)
    return folder


def _quarantine_rows(
    settings: Settings,
    path: Path,
    batch_id: str,
    source: Source,
    parsed: pd.DataFrame,
    delivered: list[str],
    result: GateResult,
) -> Path:
    """Keep a loaded batch's bad rows, as delivered, with their data row and reason."""
    from expectations.report import write_rows_report
    from mercato.privacy import Pseudonymizer

    reason = parsed[source.reason_column]
    bad = parsed[reason.notna()]
    rows = bad[delivered].copy()
    rows.insert(0, "reason", reason[reason.notna()])
    rows.insert(0, "data_row", bad.index.to_numpy() + 1)
    folder = settings.quarantine_dir / f"rows-{batch_id}"
    pseudo = Pseudonymizer(settings.home)
    write_rows_report(folder, path.name, batch_id, source.name, rows, result, pseudo)
    return folder
