"""A search of a whole data home for one customer id, written apart from the eraser it checks.

Every store the home has, read the way a person auditing it would: every DuckDB table and view
(each column as text), every SQLite file (each text column, and blobs as bytes, plus the file's
raw bytes), every Parquet file (each column as text), and the bytes of every other file, the
DuckDB file's too (deleted rows may linger in its free blocks). A hit is the id as a whole
token (``12346`` or ``12346.0``, not ``123460``).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

SQLITE_MAGIC = b"SQLite format 3\x00"


def token(customer_id: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![0-9A-Za-z.]){re.escape(customer_id)}(?:\.0+)?(?![0-9A-Za-z])")


def scan_duckdb(path: Path, customer_id: str) -> dict[str, int]:
    """{schema.table: rows holding the id in any column} over every table and view."""
    import duckdb

    regex = token(customer_id).pattern.replace("(?<![0-9A-Za-z.])", "(^|[^0-9A-Za-z.])")
    regex = regex.replace("(?![0-9A-Za-z])", "([^0-9A-Za-z]|$)")
    hits: dict[str, int] = {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
        for schema, table in tables:
            cols = [
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = ? and table_name = ?",
                    [schema, table],
                ).fetchall()
            ]
            test = " or ".join(
                f"regexp_matches(coalesce(CAST(\"{c}\" AS VARCHAR), ''), ?)" for c in cols
            )
            n = con.execute(
                f'select count(*) from "{schema}"."{table}" where {test}', [regex] * len(cols)
            ).fetchone()[0]
            if n:
                hits[f"{schema}.{table}"] = int(n)
    return hits


def scan_sqlite(path: Path, customer_id: str) -> dict[str, int]:
    """{table: rows with the id in a text value or in a blob's bytes}, and 'bytes' for the file."""
    pattern = token(customer_id)
    hits: dict[str, int] = {}
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for (table,) in con.execute("select name from sqlite_master where type = 'table'"):
            n = 0
            for row in con.execute(f'select * from "{table}"'):
                for value in row:
                    if isinstance(value, bytes):
                        text = value.decode("latin-1")
                    elif value is None:
                        continue
                    else:
                        text = str(value)
                    if pattern.search(text):
                        n += 1
                        break
            if n:
                hits[table] = n
    finally:
        con.close()
    if pattern.search(path.read_bytes().decode("latin-1")):
        hits["bytes"] = 1
    return hits


def scan_parquet(path: Path, customer_id: str) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    regex = token(customer_id).pattern.replace("(?<![0-9A-Za-z.])", "(^|[^0-9A-Za-z.])")
    regex = regex.replace("(?![0-9A-Za-z])", "([^0-9A-Za-z]|$)")
    n = 0
    for column in table.columns:
        try:
            text = pc.cast(column, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            text = pa.array([None if v is None else str(v) for v in column.to_pylist()])
        n += int(pc.sum(pc.fill_null(pc.match_substring_regex(text, regex), False)).as_py() or 0)
    return n


def scan_home(home: Path, customer_id: str, warehouse: Path) -> dict[str, object]:
    """Every place in ``home`` where the id is found: {place: what was found}."""
    pattern = token(customer_id)
    found: dict[str, object] = {}
    for path in sorted(home.rglob("*")):
        if not path.is_file():
            continue
        rel = str(path.relative_to(home))
        data = path.read_bytes()
        if path.resolve() == warehouse.resolve():
            hits = scan_duckdb(path, customer_id)
            found.update({f"duckdb:{k}": v for k, v in hits.items()})
            if pattern.search(data.decode("latin-1")):  # rows deleted but still in free blocks
                found["duckdb:bytes"] = len(pattern.findall(data.decode("latin-1")))
        elif data.startswith(SQLITE_MAGIC):
            hits = scan_sqlite(path, customer_id)
            found.update({f"sqlite:{rel}:{k}": v for k, v in hits.items()})
        elif path.suffix in (".parquet", ".pq") and data[:4] == b"PAR1":
            if n := scan_parquet(path, customer_id):
                found[f"parquet:{rel}"] = n
        elif pattern.search(data.decode("latin-1")):
            found[f"bytes:{rel}"] = len(pattern.findall(data.decode("latin-1")))
    return found
