"""Offline feature store: exporting the marts and point-in-time correct training sets."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from feature_data import Marts

from features import CUSTOMER_FEATURES, FEATURE_SERVICES, SEGMENTATION_FEATURES, store
from mercato.settings import Settings, get_settings


def test_export_writes_typed_parquet_per_view(warehouse: Settings, marts: Marts) -> None:
    counts = store.export_sources(warehouse)
    assert counts == {
        "customer_rfm_stats": len(marts.customer_features),
        "product_sales_stats": len(marts.product_features),
        "product_review_stats": len(marts.product_review_stats),
    }
    reviews = pd.read_parquet(warehouse.feast_data_dir / "product_review_stats.parquet")
    assert list(reviews.columns[:2]) == ["stock_code", "snapshot_at"]
    assert list(reviews["stock_code"]) == list(marts.product_review_stats["product_id"])
    np.testing.assert_allclose(
        reviews["negative_share"], marts.product_review_stats["negative_share"]
    )
    schema = pq.read_schema(warehouse.feast_data_dir / "customer_rfm_stats.parquet")
    assert schema.names == ["customer_id", "snapshot_at", *CUSTOMER_FEATURES]
    assert str(schema.field("customer_id").type) == "string"
    assert str(schema.field("snapshot_at").type) == "timestamp[us, tz=UTC]"
    assert str(schema.field("is_uk").type) == "int64"
    # The export only reads: the warehouse can be opened for writing again right away.
    duckdb.connect(str(warehouse.warehouse_path)).close()


def test_export_names_the_missing_input(home, marts: Marts) -> None:
    settings = get_settings()
    with pytest.raises(FileNotFoundError, match="run the dbt stage first"):
        store.export_sources(settings)
    settings.warehouse_path.parent.mkdir(parents=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("CREATE TABLE main.customer_features AS SELECT 1 AS x")
    with pytest.raises(LookupError, match="main.product_features is missing") as error:
        store.export_sources(settings)
    assert "main.customer_features lacks column(s) customer_id, snapshot_at" in str(error.value)


def _label_times(marts: Marts) -> pd.DataFrame:
    """Label rows at awkward instants: on snapshots, on orders, just before orders, between."""
    rng = np.random.default_rng(3)
    rows = []
    for customer_id, orders in marts.orders.groupby("customer_id"):
        first = orders["ordered_at"].min()
        instants = [first - timedelta(days=3)]  # before anything is known about the customer
        for ordered_at in orders["ordered_at"]:
            instants += [ordered_at, ordered_at - timedelta(seconds=1)]
            instants.append(ordered_at + timedelta(hours=float(rng.uniform(1, 200))))
        instants += list(rng.choice(marts.snapshots, size=3, replace=False))
        instants.append(marts.snapshots[-1] + timedelta(days=40))  # beyond the ttl
        rows += [{"customer_id": customer_id, "event_timestamp": t} for t in instants]
    frame = pd.DataFrame(rows)
    frame["label"] = rng.integers(0, 2, size=len(frame))
    return frame


def _expected(marts: Marts, labels: pd.DataFrame, ttl: timedelta) -> pd.DataFrame:
    """The snapshot each label may see: newest ``snapshot_at <= t`` no older than the ttl."""
    features = marts.customer_features.sort_values("snapshot_at")
    merged = pd.merge_asof(
        labels.assign(t=labels["event_timestamp"]).sort_values("t"),
        features,
        left_on="t",
        right_on="snapshot_at",
        by="customer_id",
        direction="backward",
        tolerance=ttl,
    )
    return merged.set_index(["customer_id", "t"])


def test_training_set_never_sees_events_after_the_label_time(
    warehouse: Settings, marts: Marts
) -> None:
    store.export_sources(warehouse)
    store.apply(warehouse)
    labels = _label_times(marts)

    training = store.get_training_set(warehouse, labels, "propensity_v1")

    # Row order and the caller's own columns are kept.
    assert len(training) == len(labels)
    assert training["customer_id"].tolist() == labels["customer_id"].tolist()
    assert training["label"].tolist() == labels["label"].tolist()
    assert set(training.columns) == {"customer_id", "event_timestamp", "label", *CUSTOMER_FEATURES}

    orders = marts.orders
    naive = marts.customer_features.sort_values("snapshot_at").groupby("customer_id").last()
    naive_leaks = 0
    for row in training.itertuples():
        t = row.event_timestamp.tz_convert(None)
        mine = orders[orders["customer_id"] == row.customer_id].sort_values("ordered_at")
        knowable = mine[mine["ordered_at"] < t]
        naive_leaks += naive.loc[row.customer_id, "frequency"] > len(knowable)
        if np.isnan(row.frequency):
            continue
        # The features describe the customer's first `frequency` orders, all placed before t.
        assert row.frequency <= len(knowable), (row.customer_id, t)
        assert row.monetary == pytest.approx(mine["amount"].iloc[: int(row.frequency)].sum())
    # The check has teeth: joining each customer's latest values would break it many times.
    assert naive_leaks > len(training) // 10

    # And every row holds exactly the snapshot a point-in-time join must pick.
    expected = _expected(marts, labels, timedelta(days=35))
    got = training.assign(t=training["event_timestamp"].dt.tz_convert(None))
    got = got.set_index(["customer_id", "t"])
    got = got[~got.index.duplicated()]
    expected = expected[~expected.index.duplicated()].loc[got.index]
    for name in CUSTOMER_FEATURES:
        np.testing.assert_allclose(
            got[name].astype(float), expected[name].astype(float), err_msg=name
        )
    assert expected["frequency"].isna().sum() >= 2 * labels["customer_id"].nunique()


def test_segmentation_service_serves_its_own_features(warehouse: Settings, marts: Marts) -> None:
    store.export_sources(warehouse)
    store.apply(warehouse)
    labels = pd.DataFrame(
        {
            "customer_id": sorted(marts.customer_features["customer_id"].unique()),
            "event_timestamp": marts.snapshots[-1],
        }
    )
    training = store.get_training_set(warehouse, labels, "segmentation_v1")
    assert list(training.columns) == ["customer_id", "event_timestamp", *SEGMENTATION_FEATURES]
    assert "is_uk" not in FEATURE_SERVICES["segmentation_v1"]
    with pytest.raises(KeyError, match="propensity_v2"):
        store.get_training_set(warehouse, labels, "propensity_v2")
    with pytest.raises(ValueError, match="event_timestamp"):
        store.get_training_set(warehouse, labels.drop(columns="event_timestamp"), "segmentation_v1")
