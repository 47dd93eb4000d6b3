"""The Feast configuration for a ``Settings``, built in code so it never depends on the cwd.

``feature_store.yaml`` holds the same configuration for the ``feast`` CLI (with ``${MERCATO_HOME}``
for the absolute paths); Python code calls ``repo_config(settings)`` instead, so tests and the
pipeline can use any data folder and either online store in one process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from mercato.settings import Settings

if TYPE_CHECKING:
    from feast.repo_config import RepoConfig

#: The Feast project all Mercato objects belong to (also in ``feature_store.yaml``).
PROJECT = "mercato"

#: Seconds a Redis connect or reply may take before a read fails (and serving answers 503).
REDIS_TIMEOUT_SECONDS = 2.0

#: How long a FeatureStore trusts its cached registry before re-reading ``registry.db``.
REGISTRY_CACHE_TTL_SECONDS = 60


def redis_connection_string(url: str) -> str:
    """Feast's ``host:port,key=value`` form of a ``redis://[user:password@]host:port/db`` URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"MERCATO_REDIS_URL must be redis:// or rediss://, got {url!r}")
    items = [f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"]
    items.append(f"db={int(parts.path.lstrip('/') or 0)}")
    for key, value in (("username", parts.username), ("password", parts.password)):
        if value:
            value = unquote(value)
            if "," in value:
                raise ValueError(f"Redis {key} may not contain ',' (Feast splits on it)")
            items.append(f"{key}={value}")
    if parts.scheme == "rediss":
        items.append("ssl=true")
    items.append(f"socket_connect_timeout={REDIS_TIMEOUT_SECONDS}")
    items.append(f"socket_timeout={REDIS_TIMEOUT_SECONDS}")
    return ",".join(items)


def online_store_config(settings: Settings) -> dict[str, Any]:
    """Guarded SQLite at ``feast_online_path`` by default; Redis if ``online_store == "redis"``."""
    from features.online_stores import REDIS_TYPE, SQLITE_TYPE

    if settings.online_store == "sqlite":
        return {"type": SQLITE_TYPE, "path": str(settings.feast_online_path)}
    if settings.online_store == "redis":
        return {
            "type": REDIS_TYPE,
            "connection_string": redis_connection_string(settings.redis_url),
        }
    raise ValueError(
        f"MERCATO_ONLINE_STORE must be 'sqlite' or 'redis', got {settings.online_store!r}"
    )


def repo_config(settings: Settings) -> RepoConfig:
    """RepoConfig for ``settings``: file registry, Parquet offline store, chosen online store."""
    from feast.repo_config import RepoConfig

    return RepoConfig(
        project=PROJECT,
        provider="local",
        registry={
            "registry_type": "file",
            "path": str(settings.feast_registry_path),
            "cache_ttl_seconds": REGISTRY_CACHE_TTL_SECONDS,
        },
        online_store=online_store_config(settings),
        offline_store={"type": "duckdb"},
        entity_key_serialization_version=3,
        # Feast resolves relative paths against repo_path; ours are absolute, and pointing it
        # at the data folder keeps anything Feast might write there out of the checkout.
        repo_path=settings.feast_dir,
    )
