"""Online side of the feature store: the reads serving does on every request.

``OnlineFeatureReader`` builds one Feast ``FeatureStore`` and reuses it, so a single-customer
read costs one lookup in SQLite or Redis. When the store cannot be read it raises
``FeatureStoreUnavailable`` (serving answers 503) and builds a fresh store on the next call, so
it recovers by itself once Redis or the SQLite file is back.

Staleness: after every successful read, ``reader.stale`` is True when the configured online
store was last materialized more than ``settings.feature_max_age_hours`` ago (or never); the
values are still returned, and ``reader.freshness()`` gives the materialization time and age.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features import CUSTOMER_FEATURES, CUSTOMER_VIEW
from features.freshness import Freshness, freshness_of, marker_path, read_record
from mercato.settings import Settings

if TYPE_CHECKING:
    from feast import FeatureStore

log = logging.getLogger(__name__)


class FeatureStoreUnavailable(RuntimeError):
    """The online feature store cannot be read right now (store down, file missing or corrupt)."""


class OnlineFeatureReader:
    """Reads customer features from the online store configured in ``settings``.

    Attributes:
        stale: whether the last successful read came from an online store materialized more than
            ``settings.feature_max_age_hours`` ago (or never). Updated by every read.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stale: bool = True
        self._warned_stale = False
        self._refs = [f"{CUSTOMER_VIEW}:{name}" for name in CUSTOMER_FEATURES]
        self._store: FeatureStore | None = None
        self._sqlite_identity: tuple[int, int] | None = None
        self._marker = marker_path(settings)
        self._marker_mtime: float | None = None
        self._record: dict[str, Any] | None = None
        self._lock = threading.Lock()

    # -- public API ---------------------------------------------------------------------------
    def get_customer_features(self, ids: list[str]) -> dict[str, dict[str, float] | None]:
        """``{customer_id: {feature: value}}`` in ``CUSTOMER_FEATURES`` order; None if unknown.

        Integer features come back as floats; a feature the mart left null is ``nan``.
        Raises ``FeatureStoreUnavailable`` if the online store cannot be read.
        """
        keys = [str(customer_id) for customer_id in ids]
        if not keys:
            return {}
        columns = self._read(keys)
        result: dict[str, dict[str, float] | None] = {}
        for row, key in enumerate(keys):
            values = {name: columns[name][row] for name in CUSTOMER_FEATURES}
            if all(value is None for value in values.values()):
                result[key] = None
            else:
                result[key] = {
                    name: math.nan if value is None else float(value)
                    for name, value in values.items()
                }
        self._update_staleness()
        return result

    def freshness(self) -> Freshness:
        """When the configured online store was last materialized, and how long ago."""
        return freshness_of(self._materialization(), self.settings.feature_max_age_hours)

    def warm_up(self) -> None:
        """Build the FeatureStore and load the registry now rather than on the first request."""
        self._read(["__warm_up__"])

    # -- internals ----------------------------------------------------------------------------
    def _read(self, keys: list[str]) -> dict[str, list[Any]]:
        try:
            store = self._get_store()
            response = store.get_online_features(
                features=self._refs, entity_rows=[{"customer_id": key} for key in keys]
            )
            return response.to_dict()
        except FeatureStoreUnavailable:
            raise
        except Exception as exc:
            if not _is_store_error(exc):
                raise
            # Drop the store with its connections: the next call starts from scratch, which is
            # how a restarted Redis or a restored SQLite file is picked up without a restart.
            with self._lock:
                self._store = None
            raise FeatureStoreUnavailable(
                f"online feature store ({self._describe()}) cannot be read: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def _get_store(self) -> FeatureStore:
        with self._lock:
            if self.settings.online_store == "sqlite":
                self._check_sqlite_file()
            if self._store is None:
                from features.store import feature_store

                self._store = feature_store(self.settings)
            return self._store

    def _check_sqlite_file(self) -> None:
        """Refuse to read a missing file; reconnect if the file was replaced since last read.

        An open SQLite connection keeps reading a deleted or replaced file's old inode, and a
        new one silently creates an empty database, so the path is checked on every read.
        """
        path = Path(self.settings.feast_online_path)
        try:
            stat = path.stat()
        except OSError as exc:
            self._store = None
            raise FeatureStoreUnavailable(
                f"online feature store ({self._describe()}) cannot be read: {exc.strerror}"
            ) from exc
        if not os.access(path, os.R_OK):
            self._store = None
            raise FeatureStoreUnavailable(
                f"online feature store ({self._describe()}) cannot be read: permission denied"
            )
        identity = (stat.st_dev, stat.st_ino)
        if identity != self._sqlite_identity:
            self._store = None
            self._sqlite_identity = identity

    def _materialization(self) -> dict[str, Any] | None:
        try:
            mtime = self._marker.stat().st_mtime
        except OSError:
            self._marker_mtime, self._record = None, None
            return None
        if mtime != self._marker_mtime:
            self._record = read_record(self._marker)
            self._marker_mtime = mtime
        return self._record

    def _update_staleness(self) -> None:
        freshness = self.freshness()
        self.stale = freshness.stale
        if not freshness.stale:
            self._warned_stale = False
        elif not self._warned_stale:
            self._warned_stale = True
            log.warning(
                "online features are stale: last materialized %s, more than %.1f h ago",
                freshness.materialized_at.isoformat() if freshness.materialized_at else "never",
                freshness.max_age_hours,
            )

    def _describe(self) -> str:
        if self.settings.online_store == "sqlite":
            return f"sqlite at {self.settings.feast_online_path}"
        return f"{self.settings.online_store} at {_redact(self.settings.redis_url)}"


def _is_store_error(exc: Exception) -> bool:
    """Errors that mean the store (or its registry) cannot be read, as opposed to bugs."""
    from feast.errors import FeastError
    from redis.exceptions import RedisError

    return isinstance(exc, sqlite3.Error | RedisError | OSError | FeastError)


def _redact(url: str) -> str:
    """The URL without its password, for error messages."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url
