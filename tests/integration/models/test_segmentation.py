"""Segmentation: stable ids across retrains, readable profiles, logged selection curve."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mercato.settings import Settings
from models import training
from models.segmentation import (
    CLUSTER_FEATURES,
    SegmentationFamily,
    evaluate_segmentation,
    fit_segmentation,
)


def _latest(snapshots: pd.DataFrame) -> pd.DataFrame:
    last = snapshots["event_timestamp"].max()
    return snapshots[snapshots["event_timestamp"] == last].reset_index(drop=True)


def test_segment_ids_survive_a_retrain_on_a_resample(synthetic_snapshots: pd.DataFrame) -> None:
    customers = _latest(synthetic_snapshots)
    first, _ = fit_segmentation(customers, seed=1)
    resample = customers.sample(frac=1.0, replace=True, random_state=5).reset_index(drop=True)
    matched, _ = fit_segmentation(resample, seed=99, reference=first, k=len(first.segment_ids))
    unmatched, _ = fit_segmentation(resample, seed=99, k=len(first.segment_ids))

    x = customers[CLUSTER_FEATURES].to_numpy(dtype=float)
    before, after = first.assign_many(x), matched.assign_many(x)
    assert set(matched.segment_ids) == set(first.segment_ids)
    assert (before == after).mean() > 0.9
    # without a reference, ids go by centroid monetary value, segment 0 the highest
    for seg in first.segment_ids:
        size_before = first.profiles[int(seg)]["size"]
        size_after = matched.profiles[int(seg)]["size"]
        assert abs(size_before - size_after) < 0.35 * len(customers)
    centroid_money = unmatched.log_space_centroids()[:, CLUSTER_FEATURES.index("monetary")]
    by_id = centroid_money[np.argsort(unmatched.segment_ids)]
    assert (np.diff(by_id) < 0).all()


def test_profiles_are_named_from_the_numbers(synthetic_snapshots: pd.DataFrame) -> None:
    customers = _latest(synthetic_snapshots)
    model, curve = fit_segmentation(customers, seed=3)
    assert len(curve) >= 3 and len(model.segment_ids) in curve
    names = [p["name"] for p in model.profiles.values()]
    assert len(set(names)) == len(names)
    by_recency = sorted(model.profiles.values(), key=lambda p: p["median_recency_days"])
    assert by_recency[0]["name"].startswith("active")
    assert by_recency[-1]["name"].startswith(("lapsed", "cooling"))
    richest = max(model.profiles.values(), key=lambda p: p["median_monetary"])
    assert "high spenders" in richest["name"]
    assert sum(p["size"] for p in model.profiles.values()) == len(customers)


def test_assign_matches_batch_assignment(synthetic_snapshots: pd.DataFrame) -> None:
    customers = _latest(synthetic_snapshots)
    model, _ = fit_segmentation(customers, seed=3)
    batch = model.assign_many(customers[CLUSTER_FEATURES].to_numpy(dtype=float))
    one = [model.assign(row) for row in customers[CLUSTER_FEATURES].head(20).to_dict("records")]
    assert one == batch[:20].tolist()


def test_train_logs_registers_and_is_reproducible(
    settings: Settings, synthetic_snapshots: pd.DataFrame
) -> None:
    import mlflow

    customers = _latest(synthetic_snapshots)
    first = training.train(SegmentationFamily(), settings, data=customers)
    assert first.promoted and first.version == "1"
    for metric in ("silhouette", "davies_bouldin", "stability_ari"):
        assert np.isfinite(first.metrics[metric])
    second = training.train(SegmentationFamily(), settings, data=customers)
    assert second.metrics == first.metrics
    assert (
        second.details["profiles"] == first.details["profiles"]
    )  # ids matched to the champion: same ids, same names
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(first.run_id)}
    assert {"k_selection.png", "segment_profiles.png", "k_selection.json"} <= artifacts
    model = mlflow.pyfunc.load_model("models:/mercato_segmentation@champion").unwrap_python_model()
    assert model.assign(customers.iloc[0].to_dict()) in model.profiles
    assert evaluate_segmentation(model, customers)["silhouette"] > 0.2
