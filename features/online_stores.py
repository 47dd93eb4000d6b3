"""Feast's SQLite and Redis online stores, adjusted to behave alike and fail fast.

- ``MonotonicSqliteOnlineStore``: Feast's SQLite store upserts whatever a materialization
  writes, so re-materializing an old window puts old values over newer ones; its Redis store
  compares event timestamps and keeps the newer row. This store adds the same check to SQLite:
  materializing ``[t1, t2]`` and then ``[t0, t1]`` leaves every online value as it was.
- ``FailFastRedisOnlineStore``: Feast's Redis store with redis-py's retries cut to one immediate
  reconnect. The default (3 retries, exponential backoff from 1 s) holds a serving request for
  seconds when Redis is down; serving wants a quick error it can turn into a 503.

Feast imports a custom store by the dotted name given as ``type`` in the online store config
(``feature_store.yaml`` or ``features.config``), and its config class by that name + ``Config``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from feast import FeatureView
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.infra.online_stores.redis import RedisOnlineStore, RedisOnlineStoreConfig
from feast.infra.online_stores.sqlite import (
    SqliteOnlineStore,
    SqliteOnlineStoreConfig,
    _quote_id,
    _table_id,
)
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.repo_config import RepoConfig
from feast.utils import to_naive_utc
from redis.backoff import NoBackoff
from redis.retry import Retry

SQLITE_TYPE = "features.online_stores.MonotonicSqliteOnlineStore"
REDIS_TYPE = "features.online_stores.FailFastRedisOnlineStore"

# SQLite caps the number of bound parameters per statement; stay well below every build's cap.
_KEYS_PER_QUERY = 500

Row = tuple[EntityKeyProto, dict[str, ValueProto], datetime, datetime | None]


class MonotonicSqliteOnlineStoreConfig(SqliteOnlineStoreConfig):
    """Same options as Feast's SQLite store (``path``); only the type name differs."""

    type: Literal["features.online_stores.MonotonicSqliteOnlineStore"] = SQLITE_TYPE  # type: ignore[assignment]


class MonotonicSqliteOnlineStore(SqliteOnlineStore):
    """Feast's SQLite online store, with writes of rows older than the stored one dropped."""

    def online_write_batch(
        self,
        config: RepoConfig,
        table: FeatureView,
        data: list[Row],
        progress: Callable[[int], Any] | None,
    ) -> None:
        keys = [
            serialize_entity_key(
                entity_key,
                entity_key_serialization_version=config.entity_key_serialization_version,
            )
            for entity_key, _, _, _ in data
        ]
        newest = self._stored_event_seconds(config, table, keys)
        keep: list[Row] = []
        for key, row in zip(keys, data, strict=True):
            # Seconds since the epoch, computed exactly as the parent store stores event_ts.
            seconds = int(to_naive_utc(row[2]).timestamp())
            if key in newest and seconds < newest[key]:
                continue
            newest[key] = seconds
            keep.append(row)
        if progress and len(keep) < len(data):
            progress(len(data) - len(keep))
        if keep:
            super().online_write_batch(config, table, keep, progress)

    def _stored_event_seconds(
        self, config: RepoConfig, table: FeatureView, keys: Sequence[bytes]
    ) -> dict[bytes, int]:
        """The event time already stored for each of ``keys`` that has a row."""
        conn = self._get_conn(config)
        name = _quote_id(
            _table_id(config.project, table, config.registry.enable_online_feature_view_versioning)
        )
        unique = list(dict.fromkeys(keys))
        stored: dict[bytes, int] = {}
        for start in range(0, len(unique), _KEYS_PER_QUERY):
            chunk = unique[start : start + _KEYS_PER_QUERY]
            # An aggregate has no declared type, so SQLite returns the stored epoch integer as is.
            rows = conn.execute(
                f"SELECT entity_key, MAX(CAST(event_ts AS INTEGER)) FROM {name} "
                f"WHERE entity_key IN ({','.join('?' * len(chunk))}) GROUP BY entity_key",
                chunk,
            ).fetchall()
            stored.update({key: int(seconds) for key, seconds in rows if seconds is not None})
        return stored


class FailFastRedisOnlineStoreConfig(RedisOnlineStoreConfig):
    """Same options as Feast's Redis store (``connection_string``); only the type name differs."""

    type: Literal["features.online_stores.FailFastRedisOnlineStore"] = REDIS_TYPE  # type: ignore[assignment]


class FailFastRedisOnlineStore(RedisOnlineStore):
    """Feast's Redis online store whose client retries once, at once, then raises."""

    def _get_client(self, online_store_config: RedisOnlineStoreConfig):
        new = self._client is None
        client = super()._get_client(online_store_config)
        if new:
            # One retry replaces a connection that a Redis restart closed; no backoff sleeps.
            client.set_retry(Retry(NoBackoff(), retries=1))
        return client
