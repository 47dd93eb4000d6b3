"""Names every layer shares, each defined once: aliases, the DuckDB pool, the catalogues of
model families and raw sources, and how a customer id is written.

The catalogues name *modules*, not objects, so the ground imports nothing above it and an
Airflow DAG file can list the families without importing a model library. A family module
defines ``FAMILY`` (a ``models.family.ModelFamily``); a source module defines ``SOURCE`` (a
``warehouse.sources.Source``). Families and sources outside this repository (a plug-in
package, or a test's toy) are added with ``MERCATO_EXTRA_FAMILIES`` and
``MERCATO_EXTRA_SOURCES`` (``name=module,name=module``), read by ``mercato.settings``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mercato.settings import Settings

#: Registry aliases: every new version gets ``challenger``; the gate moves ``champion``.
CHAMPION = "champion"
CHALLENGER = "challenger"

#: The one-slot Airflow pool of every task that writes the DuckDB warehouse (one writer).
DUCKDB_POOL = "mercato_duckdb"

#: Model families shipped with Mercato, in the order they train and appear: name -> module.
BUILTIN_FAMILIES: dict[str, str] = {
    "segmentation": "models.segmentation",
    "recommendation": "models.recommendation",
    "propensity": "models.propensity",
    "sentiment": "models.sentiment",
    "basket": "models.basket",
    "uplift": "models.uplift",
    "clv": "models.clv",
    "churn": "models.churn",
    "session_intent": "models.session_intent",
    "ad_response": "models.ad_response",
    "rating_recommendation": "models.rating_recommendation",
    "intent": "models.intent",
}

#: Raw sources shipped with Mercato: name -> module.
BUILTIN_SOURCES: dict[str, str] = {
    "orders": "warehouse.sources.orders",
    "reviews": "warehouse.sources.reviews",
    "campaigns": "warehouse.sources.campaigns",
    "sessions": "warehouse.sources.sessions",
    "ads": "warehouse.sources.ads",
    "ratings": "warehouse.sources.ratings",
    "support": "warehouse.sources.support",
}

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def parse_extras(raw: str, what: str) -> dict[str, str]:
    """``"toy=tests.toy_family, other=pkg.mod"`` -> ``{"toy": "tests.toy_family", ...}``.

    Raises ``ValueError`` naming the bad entry: a typo here would otherwise silently drop a
    family from every DAG and endpoint.
    """
    out: dict[str, str] = {}
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        name, sep, module = (piece.strip() for piece in entry.partition("="))
        if not sep or not _NAME.match(name) or not module:
            raise ValueError(
                f"bad {what} entry {entry!r}: write name=python.module (name in lower case)"
            )
        out[name] = module
    return out


def _catalogue(builtin: dict[str, str], extra: dict[str, str], what: str) -> dict[str, str]:
    modules = dict(builtin)
    for name, module in extra.items():
        if name in modules:
            raise ValueError(f"{what}: {name!r} is already one of Mercato's own")
        modules[name] = module
    return modules


def family_modules(settings: Settings | None = None) -> dict[str, str]:
    """Every model family's name and module: the built-in ones, then the extra ones.

    Cheap (imports no family), so an Airflow DAG file can build one task per name.
    """
    from mercato.settings import get_settings

    settings = settings or get_settings()
    return _catalogue(BUILTIN_FAMILIES, settings.extra_families, "MERCATO_EXTRA_FAMILIES")


def family_names(settings: Settings | None = None) -> tuple[str, ...]:
    """The model family names, in training order."""
    return tuple(family_modules(settings))


def source_modules(settings: Settings | None = None) -> dict[str, str]:
    """Every raw source's name and module: the built-in ones, then the extra ones."""
    from mercato.settings import get_settings

    settings = settings or get_settings()
    return _catalogue(BUILTIN_SOURCES, settings.extra_sources, "MERCATO_EXTRA_SOURCES")


def customer_id_text(value: Any) -> str | None:
    """A customer id as integer text, the one form every layer stores and compares.

    Exports write ids as floats because of missing values (``17850.0``); JSON clients send
    numbers or strings. ``17850``, ``17850.0``, ``"17850.0"`` and ``" 17850 "`` all become
    ``"17850"``; anything else is kept as stripped text, and empty values become ``None``.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value).strip()
    if not text:
        return None
    head, dot, tail = text.partition(".")
    if dot and head.lstrip("-").isdigit() and tail and set(tail) == {"0"}:
        return head
    return text


#: The same rule as a regular expression over text, for vectorised use (pandas, SQL).
CUSTOMER_ID_TRAILING_ZEROS = r"\.0+$"
