"""The raw-source contract: what a kind of delivered file holds, declared once per source.

A :class:`Source` names its raw table, its columns (with the spellings other exports use and
the DuckDB type each is stored as), how a delivered frame is parsed for the gate, how the
parsed frame becomes the raw table's rows, its Great Expectations suites, and the dbt staging
model that cleans it. Landing (``warehouse.landing``) reads any file, recognises its source by
its columns, runs that source's gate and loads or quarantines; nothing in landing knows a
column name. The built-in sources are listed in ``mercato.names.BUILTIN_SOURCES``; others come
from ``MERCATO_EXTRA_SOURCES``. See docs/architecture.md, "Adding a raw source".
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mercato.names import source_modules
from mercato.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

    from expectations.raw_gate import Suite

#: Columns landing adds to every raw table.
BATCH_COLUMNS = (("batch_id", "VARCHAR"), ("loaded_at", "TIMESTAMP"))

#: A file is taken for a source when at least this share of the source's required columns is
#: there (after aliases): enough to be sure which source it is, so the source's own gate can
#: then name what is missing. Below it for every source, the file is refused as unknown.
RECOGNITION_SHARE = 0.5

_TYPES = frozenset({"VARCHAR", "BIGINT", "DOUBLE", "TIMESTAMP", "BOOLEAN", "INTEGER", "DATE"})


def content_id(sha256: str) -> str:
    """First 16 hex digits of the content's sha256 (hex digest): the same file is the same
    batch."""
    return sha256[:16]


def normalised(name: str) -> str:
    """A column name compared loosely: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


@dataclass(frozen=True)
class Column:
    """One column of a raw table: its name there, its type, and other spellings of it."""

    name: str
    type: str
    aliases: tuple[str, ...] = ()
    required: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"column {self.name}: type {self.type!r} is not one of {_TYPES}")


#: ``suites(delivered_columns, now)`` -> the source's GX suites, run in order by the raw gate
#: (a later suite runs only when every critical check of the earlier ones passed).
Suites = Callable[[list[str], datetime | None], list["Suite"]]


@dataclass(frozen=True)
class Source:
    """A kind of raw file Mercato ingests (see the module docstring)."""

    name: str
    #: the raw table, in schema ``raw``
    table: str
    columns: tuple[Column, ...]
    #: the dbt model that cleans the raw table (``dbt_project/models/staging/<name>.sql``)
    staging_model: str
    #: delivered frame (columns renamed to ours) -> the same plus typed helper columns
    parse: Callable[[pd.DataFrame], pd.DataFrame]
    #: columns ``parse`` adds (never delivered, never stored)
    helper_columns: tuple[str, ...]
    #: parsed frame -> the raw table's columns in their types (validated values only)
    to_rows: Callable[[pd.DataFrame], pd.DataFrame]
    #: the Great Expectations suites of one batch (see :data:`Suites`)
    suites: Suites
    description: str = ""
    #: a delivered file's sha256 (hex digest) -> its batch id; content-derived, so a
    #: re-delivery is found
    batch_id_of: Callable[[str], str] = content_id
    #: a helper column of ``parse`` holding each row's problems (None for a good row): when
    #: set, a batch that passes its gate loads its good rows and landing keeps the bad ones in
    #: ``quarantine/rows-<batch_id>/`` with the reason; None: the gate judges whole batches
    reason_column: str | None = None
    #: files above ``MERCATO_INGEST_CHUNK_ROWS`` rows are read, gated and staged in chunks
    #: (``warehouse.landing``); only for sources judged as whole batches (no ``reason_column``)
    chunkable: bool = False

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"source {self.name}: a column is declared twice")
        if self.chunkable and self.reason_column is not None:
            raise ValueError(f"source {self.name}: a chunkable source cannot keep bad rows")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def qualified_table(self) -> str:
        return f"raw.{self.table}"

    def batch_id(self, sha256: str) -> str:
        """How a delivered file's batch id is derived (by default from its content alone)."""
        return self.batch_id_of(sha256)

    def aliases(self) -> dict[str, str]:
        """Every accepted spelling (normalised) -> our column name."""
        out: dict[str, str] = {}
        for column in self.columns:
            for spelling in (column.name, *column.aliases):
                out[normalised(spelling)] = column.name
        return out

    def map_columns(
        self, frame: pd.DataFrame, column_map: Mapping[str, str] | None = None
    ) -> pd.DataFrame:
        """Rename delivered columns to ours: an explicit map first, then the aliases."""
        explicit = dict(column_map or {})
        aliases = self.aliases()
        renames: dict[Any, str] = {}
        for column in frame.columns:
            name = str(column)
            if name in explicit:
                renames[column] = explicit[name]
            elif normalised(name) in aliases:
                renames[column] = aliases[normalised(name)]
        return frame.rename(columns=renames)

    def match(self, delivered: Iterable[str], column_map: Mapping[str, str] | None = None) -> float:
        """Share of the required columns a file with ``delivered`` columns provides."""
        explicit = dict(column_map or {})
        aliases = self.aliases()
        ours = {explicit.get(c) or aliases.get(normalised(c)) for c in delivered}
        required = self.required_columns
        return sum(c in ours for c in required) / len(required) if required else 0.0

    def ddl(self) -> str:
        """``create table if not exists`` for the raw table (landing's columns last), then
        ``add column if not exists`` for each column: a raw table made by an earlier version
        gains the columns the source has since declared (rows are inserted by name)."""
        columns = [(c.name, c.type) for c in self.columns] + list(BATCH_COLUMNS)
        body = ",\n    ".join(f'"{name}" {kind}' for name, kind in columns)
        added = "".join(
            f'\nalter table {self.qualified_table} add column if not exists "{name}" {kind};'
            for name, kind in columns
        )
        return (
            "create schema if not exists raw;\n"
            f"create table if not exists {self.qualified_table} (\n    {body}\n);{added}"
        )


def get_source(name: str, settings: Settings | None = None) -> Source:
    """The declared ``SOURCE`` of one source; ``ValueError`` naming the known ones."""
    modules = source_modules(settings)
    if name not in modules:
        raise ValueError(f"unknown raw source {name!r}; choose one of {', '.join(modules)}")
    source = getattr(importlib.import_module(modules[name]), "SOURCE", None)
    if not isinstance(source, Source):
        raise TypeError(f"{modules[name]} must define SOURCE, a warehouse.sources.Source")
    if source.name != name:
        raise ValueError(f"{modules[name]}.SOURCE is named {source.name!r}, listed as {name!r}")
    return source


def sources(settings: Settings | None = None) -> list[Source]:
    """Every raw source, built-in ones first."""
    return [get_source(name, settings) for name in source_modules(settings)]


class UnknownSource(ValueError):
    """A file whose columns match no declared source."""


def recognise(
    delivered: Iterable[str],
    settings: Settings | None = None,
    column_map: Mapping[str, str] | None = None,
) -> Source:
    """The source a file with ``delivered`` columns belongs to.

    The source whose required columns the file covers best, if it covers at least
    :data:`RECOGNITION_SHARE` of them; otherwise :class:`UnknownSource` naming, for every
    source, the columns it expects.
    """
    delivered = [str(c) for c in delivered]
    known = sources(settings)
    scored = sorted(
        ((source.match(delivered, column_map), i, source) for i, source in enumerate(known)),
        key=lambda item: (-item[0], item[1]),
    )
    if scored and scored[0][0] >= RECOGNITION_SHARE:
        return scored[0][2]
    expected = "; ".join(f"{s.name}: {', '.join(s.required_columns)}" for s in known)
    raise UnknownSource(
        f"the file's columns ({', '.join(delivered) or 'none'}) match no raw source; "
        f"expected the columns of one of them ({expected}), or name the source with "
        "mercato ingest --source NAME, or map the columns with column_map.json"
    )


__all__ = [
    "BATCH_COLUMNS",
    "content_id",
    "Column",
    "Source",
    "UnknownSource",
    "get_source",
    "normalised",
    "recognise",
    "sources",
]
