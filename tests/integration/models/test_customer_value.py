"""The customer-value families trained for real: clv (BG/NBD + Gamma-Gamma on mart
``clv_customer_summary``) and churn (logistic on Feast ``churn_v1`` and mart ``churn_labels``).

They read the data folder the whole pipeline built once (``pipeline_home``, read only) and
register into a fresh MLflow database each (``settings``). On the real file (skipped where it is
absent) both beat their baselines and reach a champion.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from mercato.settings import Settings
from models import churn, clv, registry, training


@pytest.fixture(scope="module")
def clv_data(pipeline_home: Settings) -> pd.DataFrame:
    return clv.FAMILY.load_data(pipeline_home)


@pytest.fixture(scope="module")
def churn_data(pipeline_home: Settings) -> pd.DataFrame:
    return churn.FAMILY.load_data(pipeline_home)


def artifacts(run_id: str) -> set[str]:
    return {a.path for a in mlflow.MlflowClient().list_artifacts(run_id)}


def test_clv_split_is_in_time(clv_data: pd.DataFrame, settings: Settings) -> None:
    split = clv.FAMILY.split(clv_data, settings)
    known = clv_data[clv_data["in_calibration"]]
    assert len(split.train) == len(known) < len(clv_data)  # hold-out newcomers are left out
    end = pd.Timestamp(split.info["calibration_end"])
    assert pd.Timestamp(split.info["observation_end"]) - end == pd.Timedelta(days=90)
    assert (known["first_purchase_day"] <= end).all()
    # the calibration columns never see a purchase after the cut
    assert (split.train["recency_days"] <= split.train["age_days"]).all()
    assert (split.train["frequency"] <= known["frequency"].to_numpy()).all()


def test_clv_training_logs_the_fit_and_is_idempotent(
    settings: Settings, clv_data: pd.DataFrame
) -> None:
    first = training.train(clv.FAMILY, settings, data=clv_data)
    assert first.version == "1" and first.decision
    run = mlflow.get_run(first.run_id)
    assert {"bgnbd.r", "bgnbd.alpha", "bgnbd.a", "bgnbd.b", "gamma_gamma.p"} <= set(run.data.params)
    assert {"holdout_r2", "calibration_rate.holdout_r2", "bgnbd.fit_seconds"} <= set(
        run.data.metrics
    )
    assert {"holdout_by_frequency.png", "btyd_params.json", "holdout.json"} <= artifacts(
        first.run_id
    )
    buckets = first.details["buckets"]
    assert [b["calibration_frequency"] for b in buckets][0] == "0"
    assert sum(b["customers"] for b in buckets) == len(clv_data[clv_data["in_calibration"]])

    again = training.train(clv.FAMILY, settings, data=clv_data)
    assert (again.version, again.metrics) == (first.version, first.metrics)
    assert "unchanged" in again.decision
    versions = registry.client(settings).search_model_versions(f"name='{clv.MODEL_NAME}'")
    assert [str(v.version) for v in versions] == ["1"]

    model = registry.load_version(settings, clv.MODEL_NAME, first.version)
    known = str(clv_data["customer_id"].iloc[0])
    value = model.value(known)
    assert value is not None and value["clv"] > 0 and 0 <= value["probability_active"] <= 1
    assert model.value("no-such-customer") is None and model.new_customer["clv"] > 0


def test_clv_gate_refuses_a_forecast_of_shuffled_purchases(
    settings: Settings, clv_data: pd.DataFrame
) -> None:
    """Hold-out purchases shuffled across customers: nothing is explained, nothing served."""
    broken = clv_data.copy()
    rng = np.random.default_rng(0)
    known = broken["in_calibration"].to_numpy()
    broken.loc[known, "holdout_frequency"] = rng.permutation(
        broken.loc[known, "holdout_frequency"].to_numpy()
    )
    result = training.train(clv.FAMILY, settings, data=broken)
    assert not result.promoted and result.metrics["holdout_r2"] < clv.MINIMUM_R2
    assert "minimum" in result.decision
    assert registry.champion_version(settings, clv.MODEL_NAME) is None


def test_churn_compares_every_baseline_and_is_idempotent(
    settings: Settings, churn_data: pd.DataFrame
) -> None:
    first = training.train(churn.FAMILY, settings, data=churn_data)
    comparison = first.details["comparison"]
    assert set(comparison) == {
        "logistic",
        "hist_gradient_boosting",
        "recency_rule",
        "bgnbd_p_inactive",
        "bgnbd_p_no_purchase",
    }
    for values in comparison.values():
        assert {"roc_auc", "pr_auc", "brier", "ece"} <= set(values)
    assert {"roc_auc", "pr_auc", "brier", "ece"} <= set(first.metrics)
    assert {"roc_pr.png", "calibration.png", "evaluation.json"} <= artifacts(first.run_id)
    run = mlflow.get_run(first.run_id)
    assert run.data.tags["feature_service"] == "churn_v1"
    assert run.data.params["horizon_days"] == "90"
    split = churn.FAMILY.split(churn_data, settings)
    last_train = split.train["event_timestamp"].max()
    assert last_train + pd.Timedelta(days=90) <= split.holdout["event_timestamp"].min()

    again = training.train(churn.FAMILY, settings, data=churn_data)
    assert (again.version, again.metrics) == (first.version, first.metrics)
    assert "unchanged" in again.decision


@pytest.mark.shared
def test_on_real_data_both_families_beat_their_baselines(
    settings: Settings, real_features: Settings
) -> None:
    value = training.train(clv.FAMILY, settings, data=clv.FAMILY.load_data(real_features))
    comparison = value.details["comparison"]
    assert comparison["bgnbd"]["holdout_r2"] > comparison["calibration_rate"]["holdout_r2"]
    assert value.promoted, value.decision
    risk = training.train(churn.FAMILY, settings, data=churn.FAMILY.load_data(real_features))
    comparison = risk.details["comparison"]
    assert comparison["logistic"]["roc_auc"] > comparison["recency_rule"]["roc_auc"]
    assert comparison["logistic"]["ece"] < comparison["recency_rule"]["ece"]
    assert risk.promoted, risk.decision
