"""Propensity: direction of effects, calibration artefacts, baselines beaten."""

from __future__ import annotations

import numpy as np
import pandas as pd
from model_data import labelled

from mercato.settings import Settings
from models import training
from models.propensity import (
    FEATURES,
    PropensityFamily,
    fit_logistic,
    time_folds,
    time_split,
)


def test_time_split_leaves_no_label_window_across_the_cut(
    synthetic_snapshots: pd.DataFrame,
) -> None:
    train, test = time_split(labelled(synthetic_snapshots), 30, 30)
    assert train["event_timestamp"].max() + pd.Timedelta(days=30) <= test["event_timestamp"].min()
    for fit_idx, val_idx in time_folds(train, 30):
        fit_end = train["event_timestamp"].iloc[fit_idx].max()
        assert fit_end + pd.Timedelta(days=30) <= train["event_timestamp"].iloc[val_idx].min()


def test_propensity_rises_with_recency_all_else_equal(synthetic_snapshots: pd.DataFrame) -> None:
    train, _ = time_split(labelled(synthetic_snapshots), 30, 30)
    model = fit_logistic(train, 1.0)
    base = train[FEATURES].median().to_dict()
    probs = [model.predict_proba({**base, "recency_days": days}) for days in (1, 7, 30, 90, 200)]
    assert all(a > b for a, b in zip(probs, probs[1:], strict=False)), probs


def test_probabilities_stay_near_the_base_rate(synthetic_snapshots: pd.DataFrame) -> None:
    train, test = time_split(labelled(synthetic_snapshots), 30, 30)
    model = fit_logistic(train, 1.0)
    p = model.predict_proba_many(test[model.feature_names].to_numpy(dtype=float))
    # balanced class weights alone would push the mean towards 0.5; the prior correction does not
    assert abs(p.mean() - test["label"].mean()) < 0.1


def test_train_beats_the_heuristic_and_logs_calibration(
    settings: Settings, synthetic_snapshots: pd.DataFrame
) -> None:
    import mlflow

    result = training.train(PropensityFamily(), settings, data=labelled(synthetic_snapshots))
    lr, heur = (
        result.details["comparison"]["logistic"],
        result.details["comparison"]["recency_heuristic"],
    )
    assert lr["roc_auc"] > heur["roc_auc"] and lr["pr_auc"] > heur["pr_auc"]
    assert "hist_gradient_boosting" in result.details["comparison"]
    run = mlflow.get_run(result.run_id)
    assert run.data.tags["feature_service"] == "propensity_v1"
    assert (
        "logistic.uk.roc_auc" in run.data.metrics or "logistic.non_uk.roc_auc" in run.data.metrics
    )
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(result.run_id)}
    assert {"calibration.png", "roc_pr.png", "evaluation.json"} <= artifacts
    model = mlflow.pyfunc.load_model("models:/mercato_propensity@champion").unwrap_python_model()
    row = labelled(synthetic_snapshots).iloc[0][FEATURES].to_dict()
    assert 0.0 < model.predict_proba(row) < 1.0
    assert model.feature_names == FEATURES
    assert np.isfinite(result.metrics["brier"])
