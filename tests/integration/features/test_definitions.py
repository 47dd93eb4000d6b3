"""The Feast repo in features/: what the `feast` CLI sees, and that Python builds the same."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from features import CUSTOMER_FEATURES, FEATURE_SERVICES, PRODUCT_FEATURES, PRODUCT_REVIEW_FEATURES
from mercato.settings import REPO_ROOT, get_settings

FEATURES_DIR = REPO_ROOT / "features"


def test_package_import_stays_light() -> None:
    code = "import features, sys; print('feast' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_feastignore_keeps_helper_modules_out_of_the_repo_scan() -> None:
    from feast.repo_operations import get_repo_files

    scanned = {path.name for path in get_repo_files(FEATURES_DIR)}
    assert scanned == {"entities.py", "data_sources.py", "feature_views.py", "feature_services.py"}


def test_cli_repo_defines_entities_views_and_versioned_services(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feast.repo_operations import parse_repo

    monkeypatch.chdir(REPO_ROOT)  # Feast names the modules it imports relative to the cwd
    contents = parse_repo(FEATURES_DIR)
    entities = {e.name: e for e in contents.entities if e.name != "__dummy"}  # Feast adds it
    assert {name: entity.join_key for name, entity in entities.items()} == {
        "customer": "customer_id",
        "product": "stock_code",
    }
    assert {source.name for source in contents.data_sources} == {
        "customer_rfm_stats_source",
        "product_sales_stats_source",
        "product_review_stats_source",
    }
    views = {view.name: view for view in contents.feature_views}
    customer, product = views["customer_rfm_stats"], views["product_sales_stats"]
    assert [field.name for field in customer.features] == CUSTOMER_FEATURES
    assert [field.name for field in product.features] == PRODUCT_FEATURES
    reviews = views["product_review_stats"]
    assert [field.name for field in reviews.features] == PRODUCT_REVIEW_FEATURES
    assert reviews.entities == ["product"]
    for view in views.values():
        assert view.ttl is not None and view.ttl >= timedelta(days=7)
        assert view.tags["owner"] == "mercato"
        assert view.batch_source.timestamp_field == "snapshot_at"
        assert Path(view.batch_source.path).is_absolute()
        assert view.batch_source.path.endswith(f"/feast/data/{view.name}.parquet")
    services = {service.name: service for service in contents.feature_services}
    assert (
        set(services) == set(FEATURE_SERVICES) == {"segmentation_v1", "propensity_v1", "churn_v1"}
    )
    for name, service in services.items():
        (projection,) = service.feature_view_projections
        assert projection.name == "customer_rfm_stats"
        assert [field.name for field in projection.features] == FEATURE_SERVICES[name]


def test_feature_store_yaml_matches_the_config_built_from_settings(home: Path) -> None:
    from feast.repo_config import load_repo_config

    from features.config import repo_config

    settings = get_settings()
    from_yaml = load_repo_config(FEATURES_DIR, FEATURES_DIR / "feature_store.yaml")
    from_code = repo_config(settings)
    assert from_yaml.project == from_code.project
    assert from_yaml.registry.path == from_code.registry.path == str(settings.feast_registry_path)
    assert from_yaml.online_store.type == from_code.online_store.type
    assert from_yaml.online_store.path == from_code.online_store.path
    assert from_yaml.offline_store.type == from_code.offline_store.type
    assert from_yaml.entity_key_serialization_version == 3


def test_redis_settings_select_the_redis_store(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from features.config import repo_config

    monkeypatch.setenv("MERCATO_ONLINE_STORE", "redis")
    monkeypatch.setenv("MERCATO_REDIS_URL", "redis://:s3cret@cache.internal:6380/2")
    config = repo_config(get_settings())
    assert config.online_store.type == "features.online_stores.FailFastRedisOnlineStore"
    assert config.online_store.connection_string.startswith(
        "cache.internal:6380,db=2,password=s3cret,"
    )
    monkeypatch.setenv("MERCATO_ONLINE_STORE", "cassandra")
    with pytest.raises(ValueError, match="'sqlite' or 'redis'"):
        repo_config(get_settings())


def test_feast_cli_applies_the_repo(home: Path, tmp_path: Path) -> None:
    """`feast apply` from any directory registers what features.store reads."""
    from features.store import feature_store

    settings = get_settings()
    settings.feast_dir.mkdir(parents=True)
    env = {**os.environ, "MERCATO_HOME": str(settings.home)}
    feast = Path(sys.executable).with_name("feast")
    result = subprocess.run(
        [str(feast), "-c", str(FEATURES_DIR), "apply"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    store = feature_store(settings)
    assert {service.name for service in store.list_feature_services()} == set(FEATURE_SERVICES)
    # The CLI's sources read the folder that MERCATO_HOME names, like feature_store.yaml does.
    source = store.get_data_source("customer_rfm_stats_source")
    assert source.path == str(settings.feast_data_dir / "customer_rfm_stats.parquet")
    assert settings.feast_online_path.is_file()
