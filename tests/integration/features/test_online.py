"""Online feature store: same values as offline, windows, outages and staleness.

Every test that takes ``online_settings`` runs twice: on the (guarded) SQLite store and on a real
``redis-server`` started by the fixtures.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from feature_data import Marts, RedisServer

from features import CUSTOMER_FEATURES, store
from features.freshness import marker_path
from features.online import FeatureStoreUnavailable, OnlineFeatureReader
from mercato.settings import Settings, get_settings


def _offline_at(settings: Settings, customers: list[str], at: datetime) -> dict[str, dict]:
    """Offline (point-in-time) values of every customer at ``at``, as the reader returns them."""
    entities = pd.DataFrame({"customer_id": customers, "event_timestamp": at})
    frame = store.get_training_set(settings, entities, "propensity_v1")
    return {
        row["customer_id"]: None
        if all(pd.isna(row[name]) for name in CUSTOMER_FEATURES)
        else {name: float(row[name]) for name in CUSTOMER_FEATURES}
        for row in frame.to_dict("records")
    }


def _customers(marts: Marts) -> list[str]:
    return sorted(marts.customer_features["customer_id"].unique())


def test_online_values_equal_offline_values_at_materialization(
    online_settings: Settings, marts: Marts
) -> None:
    store.export_sources(online_settings)
    store.apply(online_settings)
    record = store.materialize(online_settings)
    end = datetime.fromisoformat(record["end"])
    assert end == marts.snapshots[-1].replace(tzinfo=UTC)
    customers = _customers(marts)

    reader = OnlineFeatureReader(online_settings)
    online = reader.get_customer_features(customers)
    offline = _offline_at(online_settings, customers, end)

    assert all(offline[c] is not None for c in customers)
    assert online == offline
    assert list(online[customers[0]]) == CUSTOMER_FEATURES
    assert reader.get_customer_features(["99999", customers[0]])["99999"] is None
    assert reader.stale is False

    # Idempotent: materializing the same window again changes nothing.
    store.materialize(online_settings)
    assert reader.get_customer_features(customers) == online


def test_product_review_features_are_materialized_with_the_others(
    online_settings: Settings, marts: Marts
) -> None:
    from features import PRODUCT_REVIEW_FEATURES, PRODUCT_REVIEW_VIEW

    store.export_sources(online_settings)
    store.apply(online_settings)
    store.materialize(online_settings)
    stats = marts.product_review_stats.set_index("product_id")
    products = [*stats.index[:3], "NO-SUCH"]
    online = (
        store.feature_store(online_settings)
        .get_online_features(
            features=[f"{PRODUCT_REVIEW_VIEW}:{name}" for name in PRODUCT_REVIEW_FEATURES],
            entity_rows=[{"stock_code": p} for p in products],
        )
        .to_dict()
    )
    for i, product in enumerate(products[:3]):
        assert online["n_reviews"][i] == stats.loc[product, "n_reviews"]
        assert online["negative_share"][i] == pytest.approx(stats.loc[product, "negative_share"])
    assert online["n_reviews"][3] is None


def test_older_window_never_overwrites_newer_values(
    online_settings: Settings, marts: Marts
) -> None:
    store.export_sources(online_settings)
    store.apply(online_settings)
    t0, t1, t2 = marts.snapshots[0], marts.snapshots[len(marts.snapshots) // 2], marts.snapshots[-1]
    customers = _customers(marts)
    reader = OnlineFeatureReader(online_settings)

    store.materialize(online_settings, start=t0, end=t1)
    at_t1 = reader.get_customer_features(customers)
    assert at_t1 == _offline_at(online_settings, customers, t1.replace(tzinfo=UTC))

    store.materialize(online_settings, start=t1, end=t2)
    newest = reader.get_customer_features(customers)
    assert newest == _offline_at(online_settings, customers, t2.replace(tzinfo=UTC))
    # The older window really holds other values for most customers it knows.
    changed = [c for c in customers if at_t1[c] is not None and at_t1[c] != newest[c]]
    assert len(changed) > len(customers) // 3

    store.materialize(online_settings, start=t0, end=t1)
    assert reader.get_customer_features(customers) == newest


def test_sqlite_file_unreadable_raises_then_recovers(warehouse: Settings, marts: Marts) -> None:
    store.export_sources(warehouse)
    store.apply(warehouse)
    store.materialize(warehouse)
    customer = _customers(marts)[0]
    reader = OnlineFeatureReader(warehouse)
    expected = reader.get_customer_features([customer])
    assert expected[customer] is not None

    path = warehouse.feast_online_path
    moved = path.rename(path.with_name("moved_away.db"))
    with pytest.raises(FeatureStoreUnavailable, match=r"online feature store \(sqlite at .*"):
        reader.get_customer_features([customer])
    assert not path.exists(), "a failed read must not leave an empty database behind"
    moved.rename(path)
    assert reader.get_customer_features([customer]) == expected

    good = path.read_bytes()
    path.write_bytes(b"this is not a database " * 400)
    with pytest.raises(FeatureStoreUnavailable, match="sqlite") as error:
        reader.get_customer_features([customer])
    assert "not a database" in str(error.value)
    path.write_bytes(good)
    assert reader.get_customer_features([customer]) == expected


def test_redis_stopped_raises_then_recovers_without_restart(
    warehouse: Settings,
    marts: Marts,
    own_redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MERCATO_ONLINE_STORE", "redis")
    monkeypatch.setenv("MERCATO_REDIS_URL", own_redis_server.url)
    settings = get_settings()
    store.export_sources(settings)
    store.apply(settings)
    store.materialize(settings)
    customer = _customers(marts)[0]
    reader = OnlineFeatureReader(settings)
    expected = reader.get_customer_features([customer])
    assert expected[customer] is not None

    own_redis_server.stop()
    with pytest.raises(FeatureStoreUnavailable, match=rf"redis at {own_redis_server.url}"):
        reader.get_customer_features([customer])
    with pytest.raises(FeatureStoreUnavailable):
        reader.get_customer_features([customer])

    own_redis_server.start()  # comes back empty (no persistence): the pipeline refills it
    assert reader.get_customer_features([customer]) == {customer: None}
    store.materialize(settings)
    assert reader.get_customer_features([customer]) == expected


def test_reads_are_flagged_stale_past_the_maximum_age(warehouse: Settings, marts: Marts) -> None:
    customer = _customers(marts)[0]
    store.export_sources(warehouse)
    store.apply(warehouse)

    never = OnlineFeatureReader(warehouse)
    assert never.get_customer_features([customer]) == {customer: None}
    assert never.stale is True and never.freshness().materialized_at is None

    store.materialize(warehouse)
    reader = OnlineFeatureReader(warehouse)
    values = reader.get_customer_features([customer])
    assert values[customer] is not None and reader.stale is False
    assert never.get_customer_features([customer]) == values and never.stale is False

    strict = OnlineFeatureReader(dataclasses.replace(warehouse, feature_max_age_hours=0.0))
    assert strict.get_customer_features([customer]) == values
    assert strict.stale is True

    # An old materialization record makes a running reader report stale on its next read.
    marker = marker_path(warehouse)
    record = json.loads(marker.read_text())
    old = datetime.now(UTC) - timedelta(hours=warehouse.feature_max_age_hours + 1)
    record["materialized_at"] = old.isoformat()
    marker.write_text(json.dumps(record))
    os.utime(marker, (old.timestamp(), old.timestamp()))
    assert reader.get_customer_features([customer]) == values
    assert reader.stale is True
    assert math.isclose(
        reader.freshness().age_hours, warehouse.feature_max_age_hours + 1, rel_tol=0.01
    )


def test_a_forgotten_customer_leaves_the_online_store_at_once(
    online_settings: Settings, marts: Marts
) -> None:
    """``mercato forget`` deletes the customer's row from the configured online store (the
    SQLite file, or the Redis hash of their entity key) and nobody else's, and materializing
    the erased marts again does not bring them back."""
    from features.forget import entity_keys, forget

    store.export_sources(online_settings)
    store.apply(online_settings)
    store.materialize(online_settings)
    customers = _customers(marts)
    gone, others = customers[0], customers[1:]
    reader = OnlineFeatureReader(online_settings)
    before = reader.get_customer_features(customers)
    assert before[gone] is not None

    result = forget(online_settings, gone)

    places = [e for e in result.erased if e.kind == "online_store"]
    assert places and all(e.lines >= 1 for e in places), result.erased
    if online_settings.online_store == "redis":
        import redis

        from features.config import PROJECT

        assert [e.where for e in places] == ["redis"]
        client = redis.Redis.from_url(online_settings.redis_url)
        held = set(client.keys("*"))
        assert entity_keys(gone)[0] + PROJECT.encode() not in held
        assert entity_keys(others[0])[0] + PROJECT.encode() in held
    after = reader.get_customer_features(customers)
    assert after[gone] is None
    assert {c: after[c] for c in others} == {c: before[c] for c in others}

    store.export_sources(online_settings)
    store.materialize(online_settings)
    assert reader.get_customer_features([gone])[gone] is None
