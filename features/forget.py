"""Forget a customer: remove their rows from every place the data home keeps data.

``forget(settings, customer_id)`` is what ``mercato forget`` and the service's
``/admin_forget`` run. It is generic on purpose: it does not list Mercato's tables or files, it
finds every place with a customer-id column (``mercato.privacy.is_customer_column``), so a
table, log or export added later (prediction logs, conversation logs, tickets) is covered the
day it appears. In order:

1. the customer's pseudonym goes on the suppression list first, so a batch ingested while the
   erasure runs is already filtered (``warehouse.landing``);
2. DuckDB warehouse: every base table (raw, staging, intermediate, marts, any schema) with a
   customer-id column loses the customer's rows;
3. SQLite files anywhere in the home (the Feast online store, a log database): rows whose
   customer-id column, or Feast ``entity_key``, is the customer's are deleted, then VACUUM; the
   Redis online store, when it is the configured one, loses the customer's hash;
4. files: every Parquet, CSV, JSON and JSON-lines file (landing, archive, quarantine, Feast's
   offline exports, monitoring and assistant logs) is rewritten without the customer's lines;
   other text files (reports, HTML docs, logs) have the id replaced by ``[erased]``.

Model binaries in MLflow's artifact store are not rewritten (a changed pickle is not the model
the registry recorded): they are *reported* as retained, and the service never answers with
them for a forgotten customer (``serving.champions`` applies the suppression list to every
version it loads). Models forget at the next retrain (``mercato forget --retrain``).

Every place that lost lines gets one erasure-log line (``mercato.privacy.log_erasure``) with the
place, the batch for an archived one, the line count and the time: no personal data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mercato.names import customer_id_text
from mercato.privacy import PRIVACY_DIR, Pseudonymizer, log_erasure, suppress
from mercato.settings import Settings
from warehouse import redact


@dataclass
class Erased:
    """One place that lost lines: no ids in here, it goes to the erasure log as it is."""

    kind: str  # table, online_store, sqlite, archive, file, text
    where: str  # a table name, or a path relative to the data home
    lines: int
    batch: str | None = None


@dataclass
class ForgetResult:
    """What ``forget`` did; ``retained`` are model artifacts that still hold the customer."""

    pseudonym: str
    newly_suppressed: bool
    erased: list[Erased] = field(default_factory=list)
    retained: list[str] = field(default_factory=list)

    @property
    def lines(self) -> int:
        return sum(e.lines for e in self.erased)

    def summary(self) -> dict[str, Any]:
        """JSON for the CLI and the endpoint: the pseudonym, never the id."""
        return {
            "customer": self.pseudonym,
            "newly_suppressed": self.newly_suppressed,
            "lines_removed": self.lines,
            "places": [asdict(e) for e in self.erased],
            "retained_until_retrain": self.retained,
        }


def forget(settings: Settings, customer_id: Any) -> ForgetResult:
    """Remove ``customer_id`` from the whole data home; see the module docstring for the steps.

    Raises ``ValueError`` for an empty id. Safe to repeat: a second call finds nothing to remove.
    """
    cid = customer_id_text(customer_id)
    if cid is None:
        raise ValueError(f"no customer id given ({customer_id!r})")
    pseudo = Pseudonymizer(settings.home)(cid) or ""
    result = ForgetResult(pseudo, newly_suppressed=bool(suppress(settings.home, [pseudo])))
    result.erased += [Erased("table", t, n) for t, n in redact.erase_warehouse(settings, cid)]
    result.erased += _erase_redis(settings, cid)
    match, pattern = redact.matcher_for_id(cid), redact.token_pattern(cid)
    keys: list[bytes] | None = None  # Feast is imported only for a home with a SQLite file
    for path in home_files(settings):
        rel = str(path.relative_to(settings.home))
        if redact.is_sqlite(path):
            keys = entity_keys(cid) if keys is None else keys
            result.erased += [
                Erased("online_store" if feast else "sqlite", f"{rel}:{table}", n)
                for table, n, feast in redact.erase_sqlite(path, cid, keys)
            ]
            continue
        batch = _batch_of(settings, path)
        kind = "archive" if batch else "file"
        suffix = path.suffix.lower()
        n = redact.rewrite_table_file(path, match) if suffix in redact.TABLE_SUFFIXES else 0
        if n:
            result.erased.append(Erased(kind, rel, n, batch))
        elif suffix in redact.TEXT_SUFFIXES or suffix in redact.VALUE_SUFFIXES:
            if suffix in redact.TEXT_SUFFIXES:
                n = redact.replace_tokens(path, pattern)
            else:
                n = redact.erase_values(path, match, pattern)
            if n:
                result.erased.append(Erased("text", rel, n, batch))
        elif suffix not in (".parquet", ".pq") and _binary_holds(path, pattern):
            result.retained.append(rel)  # a pickled model: reported, never edited
    log_erasure(
        settings.home,
        [{k: v for k, v in asdict(e).items() if v is not None} for e in result.erased],
    )
    return result


def entity_keys(customer_id: str) -> list[bytes]:
    """Feast's serialized entity key of the customer (the serialization Mercato's store uses)."""
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    key = EntityKey(join_keys=["customer_id"], entity_values=[Value(string_val=customer_id)])
    return [serialize_entity_key(key, entity_key_serialization_version=3)]


def _erase_redis(settings: Settings, customer_id: str) -> list[Erased]:
    """Delete the customer's hash from the Redis online store (when Redis is the store)."""
    if settings.online_store != "redis":
        return []
    import redis

    from features.config import PROJECT

    client = redis.Redis.from_url(settings.redis_url)
    n = sum(int(client.delete(k + PROJECT.encode())) for k in entity_keys(customer_id))
    return [Erased("online_store", "redis", n)] if n else []


def home_files(settings: Settings) -> Iterator[Path]:
    """Every file of the home except the warehouse (erased by SQL) and the privacy folder."""
    warehouse = settings.warehouse_path.resolve()
    for path in sorted(settings.home.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        if path.relative_to(settings.home).parts[0] == PRIVACY_DIR:
            continue
        if path.resolve() == warehouse or path.name == warehouse.name + ".wal":
            continue
        yield path


def _batch_of(settings: Settings, path: Path) -> str | None:
    try:
        return path.relative_to(settings.archive_dir).parts[0]
    except ValueError:
        return None


def _binary_holds(path: Path, pattern: Any) -> bool:
    if path.stat().st_size > redact.MAX_TEXT_BYTES:
        return False
    return bool(pattern.search(path.read_bytes().decode("latin-1")))
