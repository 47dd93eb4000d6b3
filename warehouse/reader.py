"""The one reader of the warehouse for every stage after landing.

Marts, feature exports, training sets, provenance and the demo read the warehouse through
here, always read-only (DuckDB allows one writer; readers never hold its lock for long), so
moving the warehouse to another engine changes this module. Landing and dbt are the writers.

With ``MERCATO_WAREHOUSE=spark`` the raw tables stay in the DuckDB file and the marts are the
Parquet folders Spark wrote (``settings.spark_marts_dir``): a connection is then an in-memory
DuckDB with the file attached read-only, a view ``raw.<table>`` over each raw table and a view
``main.<mart>`` over each mart's folder, so every caller's SQL stays the same on both engines.
Marts that only DuckDB builds (sources Spark leaves out) are absent there.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
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
    if settings.warehouse == "spark":
        con = _spark_connection(settings)
    else:
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        yield con
    finally:
        con.close()


#: The name the DuckDB file is attached under in a Spark connection.
_ATTACHED = "duckdb_warehouse"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _spark_connection(settings: Settings) -> Any:
    """An in-memory DuckDB where ``raw.*`` are views over the DuckDB file (attached read-only)
    and ``main.<mart>`` views over the Parquet folders Spark wrote; no data is copied."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute(f"attach {_literal(str(settings.warehouse_path))} as {_ATTACHED} (read_only)")
        con.execute("create schema raw")
        raw_tables = con.execute(
            "select table_name from duckdb_tables() "
            "where database_name = ? and schema_name = 'raw' order by table_name",
            [_ATTACHED],
        ).fetchall()
        for (name,) in raw_tables:
            con.execute(f'create view raw."{name}" as select * from {_ATTACHED}.raw."{name}"')
        for mart, folder in spark_marts(settings).items():
            files = _literal(str(folder / "*.parquet"))
            con.execute(f'create view main."{mart}" as select * from read_parquet({files})')
    except BaseException:
        con.close()
        raise
    return con


def unbuilt_marts(settings: Settings) -> set[str]:
    """Marts the selected engine has not built and need not: on Spark, the optional marts
    (``may_be_empty``: sources other than orders, left out by ``warehouse.dbt.SPARK_EXCLUDED``)
    missing from its folder. Always empty on DuckDB, which builds every mart."""
    if settings.warehouse != "spark":
        return set()
    from expectations.marts import mart_suites

    built = spark_marts(settings)
    return {s.table for s in mart_suites() if s.may_be_empty and s.table not in built}


def spark_marts(settings: Settings) -> dict[str, Any]:
    """The marts Spark has written (a folder holding Parquet files each), by name."""
    root = settings.spark_marts_dir
    if not root.is_dir():
        return {}
    return {
        folder.name: folder
        for folder in sorted(root.iterdir())
        if folder.is_dir() and any(folder.glob("*.parquet"))
    }


def query(settings: Settings, sql: str, parameters: list[Any] | None = None) -> Any:
    """The result of one read-only SQL query as a pandas DataFrame."""
    with connect(settings) as con:
        return con.execute(sql, parameters or []).df()


#: Buckets of the customer sample: a customer is kept when its bucket is below the share.
SAMPLE_BUCKETS = 1_000_000


def customer_sample(settings: Settings, table: str, max_rows: int) -> tuple[str, float]:
    """(SQL condition, share of customers kept) that keeps about ``max_rows`` rows of ``table``.

    Within the limit the condition is ``true`` and the share 1. Above it, customers are kept
    whole (every snapshot of a kept customer stays) by the MD5 of their id, so the sample is the
    same on every run, engine and machine, and a customer kept at one size is kept at a larger
    share too. What the snapshot families train on when a shop outgrows one process's memory.
    """
    total = int(query(settings, f"select count(*) as n from {table}")["n"].iloc[0])
    if total <= max_rows:
        return "true", 1.0
    share = max_rows / total
    bucket = f"md5_number(cast(customer_id as varchar)) % {SAMPLE_BUCKETS}"
    return f"{bucket} < {int(share * SAMPLE_BUCKETS)}", share


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
    """Every data table (not dbt's views) as ``schema.name``; marts are in ``main``."""
    # on Spark the raw tables and the marts are views (see the module's docstring); on DuckDB
    # views in main are dbt's staging models, not data tables
    catalog = "duckdb_views()" if settings.warehouse == "spark" else "duckdb_tables()"
    name = "view_name" if settings.warehouse == "spark" else "table_name"
    with connect(settings) as con:
        rows = con.execute(
            f"select schema_name, {name} from {catalog} "
            "where database_name = current_database() and schema_name in ('raw', 'main') "
            "and not internal order by schema_name desc, 2"
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
    return _read(settings, _by_name(settings), name, columns)


def _by_name(settings: Settings) -> dict[str, str]:
    """Every data table, qualified (``main.dim_customers``), by the name callers give it."""
    return {_short(t): t for t in list_tables(settings)}


def _read(
    settings: Settings, tables: Mapping[str, str], name: str, columns: list[str] | None = None
) -> Any:
    """``read_table`` with the warehouse's tables (``_by_name``) already listed."""
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


class LazyTables(Mapping[str, Any]):
    """Tables by name, each read (``read_table``) when asked for and not kept: a caller that
    takes them one at a time holds one table in memory, not all of them.

    The warehouse's table list is read once, on first use, and kept: a ``LazyTables`` lives
    for one pass over the tables (one gate run), during which no table is added or dropped.
    """

    def __init__(self, settings: Settings, names: list[str]) -> None:
        self._settings = settings
        self._names = list(names)
        self._tables: dict[str, str] | None = None

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        return _read(self._settings, self._warehouse_tables(), name)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def _warehouse_tables(self) -> dict[str, str]:
        if self._tables is None:
            self._tables = _by_name(self._settings)
        return self._tables

    def _relation(self, name: str) -> str:
        tables = self._warehouse_tables()
        if name not in self._names or name not in tables:
            raise KeyError(name)
        return _quoted(tables[name])

    def count(self, name: str) -> int:
        """Rows of table ``name``, counted in the warehouse."""
        with connect(self._settings) as con:
            return int(con.execute(f"select count(*) from {self._relation(name)}").fetchone()[0])

    def chunks(self, name: str, rows: int) -> Iterator[Any]:
        """Table ``name`` in order as DataFrames of at most ``rows`` rows, converted as
        ``read_table`` converts the whole table (DuckDB hands them over in vectors of 2,048
        rows, so at least one vector is fetched at a time)."""
        vectors = max(1, rows // 2048)
        with connect(self._settings) as con:
            con.execute(f"select * from {self._relation(name)}")
            while len(fetched := con.fetch_df_chunk(vectors)):
                for start in range(0, len(fetched), rows):
                    yield fetched.iloc[start : start + rows]

    def export_columns(self, name: str, columns: list[str], position: str, folder: str) -> None:
        """``columns`` of table ``name`` with each row's position (0-based) as ``position``,
        written by DuckDB to ``folder/fp-00000.parquet`` (the uniqueness checks read it)."""
        for column in [*columns, position]:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", column):
                raise ValueError(f"not a column name: {column!r}")
        selected = ", ".join(f'"{c}"' for c in columns)
        target = str(Path(folder) / "fp-00000.parquet").replace("'", "''")
        with connect(self._settings) as con:
            con.execute(
                f'copy (select row_number() over () - 1 as "{position}", {selected} '
                f"from {self._relation(name)}) to '{target}' (format parquet)"
            )


def _short(table: str) -> str:
    """Marts by bare name (``dim_customers``), raw tables qualified (``raw.order_lines``)."""
    schema, name = table.split(".", 1)
    return name if schema == "main" else table


def _quoted(table: str) -> str:
    schema, name = table.split(".", 1)
    return f'"{schema}"."{name}"'
