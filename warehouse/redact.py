"""Remove one customer's lines from the warehouse, a SQLite file, or a data file.

The building blocks of ``features.forget`` (``mercato forget``) and of ingest's suppression
filter (``warehouse.landing``). Every function finds the customer-id columns by name
(``mercato.privacy.is_customer_column``) rather than from a list of Mercato's tables, so a table
or file added later is covered too, and takes a *matcher*: a function that says whether a value
is the customer (``matcher_for_id`` for a known id, or a test of pseudonyms against the
suppression list, which holds no ids). Each returns the number of lines it removed; a file is
replaced atomically and only when something changed.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mercato.names import customer_id_text
from mercato.privacy import is_customer_column
from mercato.settings import Settings

Matcher = Callable[[Any], bool]

ERASED = "[erased]"
#: Files that are data tables: rewritten row by row.
TABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".json", ".jsonl", ".ndjson")
#: Files read as text for a token replacement (reports, docs, logs): written for people, so a
#: replaced token cannot break a program that reads them. Machine state (JSON, CSV, YAML) is
#: never edited as text: an id such as ``00`` would match inside ``+00:00`` of a timestamp.
TEXT_SUFFIXES = (".md", ".txt", ".log", ".html", ".htm")
#: Structured files whose values equal to the id are erased one by one (``erase_values``).
VALUE_SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv", ".tsv")
#: Larger text files are not rewritten (none of Mercato's reports comes near).
MAX_TEXT_BYTES = 64 << 20
SQLITE_MAGIC = b"SQLite format 3\x00"


def matcher_for_id(customer_id: str) -> Matcher:
    """True for ``customer_id`` in any written form (``17850``, ``17850.0``, ``" 17850 "``)."""

    def match(value: Any) -> bool:
        if value is None or isinstance(value, dict | list):
            return False
        return customer_id_text(value) == customer_id

    return match


def token_pattern(customer_id: str) -> re.Pattern[str]:
    """The id as a whole token, also in float form (``17850`` and ``17850.0``), not ``178501``."""
    return re.compile(rf"(?<![0-9A-Za-z.]){re.escape(customer_id)}(?:\.0+)?(?![0-9A-Za-z])")


# -- DuckDB ---------------------------------------------------------------------------------------


def erase_warehouse(settings: Settings, customer_id: str) -> list[tuple[str, int]]:
    """Delete the customer's rows from every DuckDB base table with a customer-id column.

    Returns (schema.table, rows removed) for each table that lost rows. One transaction; then
    the file is compacted (:func:`compact`), so no freed block keeps the deleted rows' bytes.
    """
    if not settings.warehouse_path.is_file():
        return []
    import duckdb

    out: list[tuple[str, int]] = []
    with duckdb.connect(str(settings.warehouse_path)) as con:
        columns = con.execute(
            "select c.table_schema, c.table_name, c.column_name "
            "from information_schema.columns c join information_schema.tables t "
            "on c.table_catalog = t.table_catalog and c.table_schema = t.table_schema "
            "and c.table_name = t.table_name where t.table_type = 'BASE TABLE' "
            "order by 1, 2, c.ordinal_position"
        ).fetchall()
        tables: dict[tuple[str, str], list[str]] = {}
        for schema, table, column in columns:
            if is_customer_column(column):
                tables.setdefault((schema, table), []).append(column)
        con.execute("begin transaction")
        try:
            for (schema, table), cols in tables.items():
                name = f'"{schema}"."{table}"'
                where = " or ".join(
                    "regexp_replace(trim(CAST(\"{}\" AS VARCHAR)), '\\.0+$', '') = ?".format(
                        c.replace('"', '""')
                    )
                    for c in cols
                )
                params = [customer_id] * len(cols)
                row = con.execute(f"select count(*) from {name} where {where}", params).fetchone()
                n = int(row[0]) if row else 0
                if n:
                    con.execute(f"delete from {name} where {where}", params)
                    out.append((f"{schema}.{table}", n))
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
    if out:
        compact(settings.warehouse_path)
    return out


def compact(path: Path) -> None:
    """Rewrite a DuckDB file into a fresh one (every schema, table, view and constraint).

    DuckDB reuses freed blocks without zeroing them, so deleted rows stay readable in the
    file's bytes until overwritten; a copy holds only the live data. The new file replaces the
    old one atomically; a reader that had the old one open keeps reading it.
    """
    import duckdb

    fresh = path.with_name(path.name + ".compact")
    fresh.unlink(missing_ok=True)
    quoted = str(fresh).replace("'", "''")
    with duckdb.connect(str(path)) as con:
        name = con.execute("select current_database()").fetchone()[0]
        con.execute(f"attach '{quoted}' as mercato_compacted")
        con.execute(f'copy from database "{name}" to mercato_compacted')
        con.execute("detach mercato_compacted")
    fresh.replace(path)


# -- SQLite ---------------------------------------------------------------------------------------


def erase_sqlite(
    path: Path, customer_id: str, entity_keys: Sequence[bytes] = ()
) -> list[tuple[str, int, bool]]:
    """Delete the customer from every table of one SQLite file, then VACUUM it.

    A row goes when a customer-id column holds the id, or an ``entity_key`` column (Feast's
    online tables) holds one of ``entity_keys``. Returns (table, rows, is_feast_table).
    """
    out: list[tuple[str, int, bool]] = []
    con = sqlite3.connect(path)
    try:
        tables = [r[0] for r in con.execute("select name from sqlite_master where type = 'table'")]
        for table in tables:
            quoted = '"' + table.replace('"', '""') + '"'
            cols = [r[1] for r in con.execute(f"pragma table_info({quoted})").fetchall()]
            clauses: list[str] = []
            params: list[Any] = []
            for col in cols:
                qcol = '"' + col.replace('"', '""') + '"'
                if is_customer_column(col):
                    clauses.append(f"trim(cast({qcol} as text)) in (?, ?)")
                    params += [customer_id, f"{customer_id}.0"]
                elif col == "entity_key" and entity_keys:
                    clauses.append(f"{qcol} in ({', '.join('?' * len(entity_keys))})")
                    params += list(entity_keys)
            if not clauses:
                continue
            n = con.execute(f"delete from {quoted} where {' or '.join(clauses)}", params).rowcount
            if n:
                out.append((table, int(n), "entity_key" in cols))
        con.commit()
        if out:
            con.execute("vacuum")  # freed pages would still hold the old bytes
    finally:
        con.close()
    return out


def is_sqlite(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC


# -- data files -----------------------------------------------------------------------------------


def rewrite_table_file(path: Path, match: Matcher) -> int:
    """Rewrite a Parquet, CSV, JSON or JSON-lines file without the customer's lines."""
    rewrite = _REWRITERS.get(path.suffix.lower())
    return rewrite(path, match) if rewrite else 0


def replace_tokens(path: Path, pattern: re.Pattern[str]) -> int:
    """Replace the id in a text file (a report, a log, HTML docs); returns the replacements."""
    if path.stat().st_size > MAX_TEXT_BYTES:
        return 0
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return 0
    new, n = pattern.subn(ERASED, text)
    if n:
        _replace(path, new.encode())
    return n


def _erase_value(value: Any, match: Matcher, pattern: re.Pattern[str]) -> tuple[Any, int]:
    """A JSON value with every string that *is* the id erased, and the id as a token erased
    inside free text (strings with a space); timestamps and codes are never edited."""
    if isinstance(value, dict):
        out, total = {}, 0
        for key, item in value.items():
            out[key], n = _erase_value(item, match, pattern)
            total += n
        return out, total
    if isinstance(value, list):
        items, total = [], 0
        for item in value:
            erased, n = _erase_value(item, match, pattern)
            items.append(erased)
            total += n
        return items, total
    if isinstance(value, str):
        if match(value):
            return ERASED, 1
        if " " in value:
            return pattern.subn(ERASED, value)
    return value, 0


def erase_values(path: Path, match: Matcher, pattern: re.Pattern[str]) -> int:
    """Erase the id where it is a whole value of a JSON, JSON-lines, CSV or TSV file (the files
    with no customer column, e.g. examples in Great Expectations results); returns the count."""
    if path.stat().st_size > MAX_TEXT_BYTES:
        return 0
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return 0
    suffix = path.suffix.lower()
    total = 0
    if suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError:
            return 0
        data, total = _erase_value(data, match, pattern)
        new = json.dumps(data, indent=2, default=str)
    elif suffix in (".jsonl", ".ndjson"):
        lines = []
        for line in text.splitlines(keepends=True):
            try:
                record = json.loads(line) if line.strip() else None
            except ValueError:
                lines.append(line)
                continue
            record, n = _erase_value(record, match, pattern)
            total += n
            lines.append(json.dumps(record, default=str) + "\n" if n else line)
        new = "".join(lines)
    else:
        import csv
        import io

        delimiter = "\t" if suffix == ".tsv" else ","
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        for row in rows:
            for i, cell in enumerate(row):
                row[i], n = _erase_value(cell, match, pattern)
                total += n
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows(rows)
        new = buffer.getvalue()
    if total:
        _replace(path, new.encode())
    return total


def _rewrite_parquet(path: Path, match: Matcher) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    cols = [name for name in pq.read_schema(path).names if is_customer_column(name)]
    if not cols:
        return 0
    table = pq.read_table(path)
    hit = None
    for name in cols:
        values = table[name]
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            values = pc.cast(values, pa.string())
        found = [v for v in pc.unique(values).to_pylist() if v is not None and match(v)]
        is_hit = pc.fill_null(pc.is_in(values, value_set=pa.array(found, pa.string())), False)
        hit = is_hit if hit is None else pc.or_(hit, is_hit)
    n = int(pc.sum(hit).as_py() or 0) if hit is not None else 0
    if n:
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(table.filter(pc.invert(hit)), tmp)
        tmp.replace(path)
    return n


def _rewrite_csv(path: Path, match: Matcher) -> int:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        return 0
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return 0
    cols = [i for i, name in enumerate(rows[0]) if is_customer_column(name)]
    if not cols:
        return 0
    keep = [rows[0]] + [
        r for r in rows[1:] if not any(i < len(r) and r[i] and match(r[i]) for i in cols)
    ]
    n = len(rows) - len(keep)
    if n:
        buffer = io.StringIO(newline="")
        csv.writer(buffer, lineterminator="\n").writerows(keep)
        _replace(path, buffer.getvalue().encode())
    return n


def _is_record_of(item: Any, match: Matcher) -> bool:
    return isinstance(item, dict) and any(
        is_customer_column(k) and match(v) for k, v in item.items()
    )


def prune_json(value: Any, match: Matcher) -> tuple[Any, int]:
    """A JSON value without the customer's records: objects with a customer key in a list, and
    rows of ``{"columns": [...], "data": [[...]]}`` tables (MLflow's input examples)."""
    if isinstance(value, dict):
        removed = 0
        columns, data = value.get("columns"), value.get("data")
        if isinstance(columns, list) and isinstance(data, list):
            idx = [i for i, c in enumerate(columns) if is_customer_column(c)]
            kept = [
                row
                for row in data
                if not (isinstance(row, list) and any(i < len(row) and match(row[i]) for i in idx))
            ]
            removed += len(data) - len(kept)
            value = {**value, "data": kept}
        out = {}
        for key, item in value.items():
            out[key], n = prune_json(item, match)
            removed += n
        return out, removed
    if isinstance(value, list):
        items, removed = [], 0
        for item in value:
            if _is_record_of(item, match):
                removed += 1
                continue
            pruned, n = prune_json(item, match)
            items.append(pruned)
            removed += n
        return items, removed
    return value, 0


def _rewrite_json(path: Path, match: Matcher) -> int:
    try:
        data = json.loads(path.read_bytes())
    except ValueError:
        return 0
    pruned, n = prune_json(data, match)
    if n:
        _replace(path, json.dumps(pruned, indent=2, default=str).encode())
    return n


def _rewrite_jsonl(path: Path, match: Matcher) -> int:
    try:
        lines = path.read_bytes().decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return 0
    keep: list[str] = []
    removed = 0
    for line in lines:
        try:
            record = json.loads(line) if line.strip() else None
        except ValueError:
            keep.append(line)
            continue
        if _is_record_of(record, match):
            removed += 1
            continue
        if record is not None:
            pruned, n = prune_json(record, match)
            if n:
                removed += n
                line = json.dumps(pruned, default=str) + "\n"
        keep.append(line)
    if removed:
        _replace(path, "".join(keep).encode())
    return removed


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


_REWRITERS: dict[str, Callable[[Path, Matcher], int]] = {
    ".parquet": _rewrite_parquet,
    ".pq": _rewrite_parquet,
    ".csv": _rewrite_csv,
    ".json": _rewrite_json,
    ".jsonl": _rewrite_jsonl,
    ".ndjson": _rewrite_jsonl,
}
