"""Fixtures for the feature-store tests: data folders over synthetic marts, and a real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from feature_data import Marts, RedisServer, make_marts, write_warehouse
from needs_servers import require_servers

from mercato.settings import Settings, apply_runtime_env, get_settings


@pytest.fixture(scope="session")
def marts() -> Marts:
    return make_marts()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh MERCATO_HOME with SQLite selected."""
    monkeypatch.setenv("MERCATO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MERCATO_ONLINE_STORE", "sqlite")
    apply_runtime_env()
    return tmp_path / "home"


@pytest.fixture
def warehouse(home: Path, marts: Marts) -> Settings:
    """Settings whose warehouse holds the synthetic marts."""
    settings = get_settings()
    write_warehouse(
        settings.warehouse_path,
        marts.customer_features,
        marts.product_features,
        marts.product_review_stats,
    )
    return settings


def _redis_server(workdir: Path) -> Iterator[RedisServer]:
    require_servers()
    server = RedisServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One Redis for the session; tests flush it before use."""
    yield from _redis_server(tmp_path_factory.mktemp("redis"))


@pytest.fixture
def own_redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis only this test uses, so it may stop and restart it."""
    yield from _redis_server(tmp_path / "redis")


@pytest.fixture(params=["sqlite", "redis"])
def online_settings(
    request: pytest.FixtureRequest, warehouse: Settings, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Settings over the synthetic marts, once with each online store."""
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        server.flush()
        monkeypatch.setenv("MERCATO_ONLINE_STORE", "redis")
        monkeypatch.setenv("MERCATO_REDIS_URL", server.url)
    return get_settings()
