"""The suites of the mart gate, one module per source's marts, found by listing this package.

Each module defines ``SUITES``, a list of :class:`MartSuite`: the mart's own checks (the row-count
check every mart gets is added by ``expectations.mart_gate``). A new source's marts get their
suites in a new module here; nothing else changes. ``may_be_empty`` marks a mart that is empty
until its source has delivered a batch (a shop without reviews has no review marts).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class MartSuite:
    """The checks of one mart, beyond its row count."""

    table: str
    checks: Callable[[datetime], list[Any]]
    may_be_empty: bool = False


def mart_suites() -> list[MartSuite]:
    """Every mart suite of every module of this package, in module order."""
    suites: list[MartSuite] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        suites.extend(getattr(module, "SUITES", []))
    tables = [s.table for s in suites]
    duplicated = sorted({t for t in tables if tables.count(t) > 1})
    if duplicated:
        raise ValueError(f"marts with two suites: {duplicated}")
    return suites
