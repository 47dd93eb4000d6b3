"""The one reader of the DuckDB warehouse for every stage after landing.

Marts, feature exports, training sets, provenance and the demo read the warehouse through
here, always read-only (DuckDB allows one writer; readers never hold its lock for long), so
moving the warehouse to another engine changes this module. Landing and dbt are the writers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any

from mercato.settings import Settings

#: Schemas that hold data tables: what landing writes and what dbt builds.
DATA_SCHEMAS = ("raw", "main")


@contextlib.contextmanager
def connect(settings: Settings) -> Iterator[Any]:
    """A read-only DuckDB connection to the warehouse, closed on leaving the block."""
    import duckdb

    if not settings.warehouse_path.exists():
        raise FileNotFoundError(f"no warehouse at {settings.warehouse_path}: run ingest first")
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        yield con
    finally:
        con.close()


def query(settings: Settings, sql: str, parameters: list[Any] | None = None) -> Any:
    """The result of one read-only SQL query as a pandas DataFrame."""
    with connect(settings) as con:
        return con.execute(sql, parameters or []).df()


def query_if_built(settings: Settings, sql: str) -> Any:
    """:func:`query`, or ``None`` while the warehouse or a table it reads does not exist yet
    (a source that has sent nothing); any other error (a locked or broken file) is raised.

    What a family's ``has_data`` asks: is there anything to train on yet?
    """
    import duckdb

    if not settings.warehouse_path.exists():
        return None
    try:
        return query(settings, sql)
    except duckdb.CatalogException:
        return None


def list_tables(settings: Settings) -> list[str]:
    """Every data table (not view) as ``schema.name``; marts are in ``main``."""
    with connect(settings) as con:
        rows = con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where database_name = current_database() and schema_name in ('raw', 'main') "
            "order by schema_name desc, table_name"
        ).fetchall()
    return [f"{schema}.{name}" for schema, name in rows]


def table_counts(settings: Settings) -> dict[str, int]:
    """Row count of every data table (``raw.*`` and every mart), opened read-only."""
    tables = list_tables(settings)
    with connect(settings) as con:
        return {
            _short(t): con.execute(f"select count(*) from {_quoted(t)}").fetchone()[0]
            for t in tables
        }


def table_hashes(settings: Settings) -> dict[str, str]:
    """An order-independent fingerprint of every data table: schema, row count and contents.

    Two warehouses with the same rows (in any order) and the same column types give the same
    hashes; any changed, added or removed row changes it.
    """
    tables = list_tables(settings)
    hashes: dict[str, str] = {}
    with connect(settings) as con:
        for table in tables:
            columns = con.execute(f"describe {_quoted(table)}").fetchall()
            count, total, mixed = con.execute(
                f"select count(*), coalesce(sum(hash(t)::hugeint), 0), "
                f"coalesce(bit_xor(hash(t)), 0) from {_quoted(table)} as t"
            ).fetchone()
            signature = json.dumps([[c[0], c[1]] for c in columns]) + f"|{count}|{total}|{mixed}"
            hashes[_short(table)] = hashlib.sha256(signature.encode()).hexdigest()
    return hashes


def read_table(settings: Settings, name: str, columns: list[str] | None = None) -> Any:
    """A table as a pandas DataFrame, read-only. ``name`` is a mart or ``raw.<table>``."""
    tables = {_short(t): t for t in list_tables(settings)}
    if name not in tables:
        known = ", ".join(sorted(tables))
        raise KeyError(f"no table {name!r} in the warehouse (tables: {known})")
    select = "*"
    if columns:
        for column in columns:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", column):
                raise ValueError(f"not a column name: {column!r}")
        select = ", ".join(f'"{c}"' for c in columns)
    with connect(settings) as con:
        return con.execute(f"select {select} from {_quoted(tables[name])}").fetchdf()


def _short(table: str) -> str:
    """Marts by bare name (``dim_customers``), raw tables qualified (``raw.order_lines``)."""
    schema, name = table.split(".", 1)
    return name if schema == "main" else table


def _quoted(table: str) -> str:
    schema, name = table.split(".", 1)
    return f'"{schema}"."{name}"'
