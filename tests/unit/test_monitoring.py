"""The monitor's statistics on frames: a shift injected into one feature is flagged, alone,
and shown in the HTML report; an unshifted batch passes (issue #20, acceptance 1)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.profile import build_profile
from monitoring.drift import Limits, compare_numeric, numeric_psi, psi_from_shares
from monitoring.monitor import alerts, check_family
from monitoring.realised import score_matured
from monitoring.report import render

FEATURES = ["recency_days", "frequency", "monetary", "is_uk"]
LIMITS = Limits()


def batch(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "recency_days": rng.exponential(60, n),
            "frequency": rng.poisson(4, n).astype(float),
            "monetary": rng.lognormal(5, 1, n),
            "is_uk": (rng.random(n) < 0.9).astype(int),
        }
    )


def score(frame: pd.DataFrame) -> np.ndarray:
    return 1 / (1 + np.exp(frame["recency_days"] / 60 - frame["frequency"] / 4))


def result_of(frame: pd.DataFrame, reference: pd.DataFrame) -> dict:
    profile = build_profile(
        reference,
        FEATURES,
        score(reference),
        source="customer_features",
        time_column="snapshot_at",
        categorical=["is_uk"],
    )
    part = check_family(profile, frame, score(frame), LIMITS)
    result = {
        "run": "test",
        "at": "now",
        "limits": {**LIMITS.__dict__, "min_realised_auc": 0.55},
        "families": {"propensity": {"model": "mercato_propensity", "version": "1", **part}},
        "realised": [],
        "freshness": [],
    }
    result["alerts"], result["retrain"] = alerts(result, 0.55)
    return result


REFERENCE = batch(3000, seed=1)


def test_an_unshifted_batch_passes() -> None:
    result = result_of(batch(1500, seed=2), REFERENCE)
    assert result["families"]["propensity"]["drifted"] == []
    assert result["alerts"] == [] and result["retrain"] == []
    assert "No alerts" in render(result)


@pytest.mark.parametrize("feature", ["monetary", "frequency", "is_uk"])
def test_a_shift_in_one_feature_is_flagged_alone_and_reported(feature: str) -> None:
    shifted = batch(1500, seed=2)
    if feature == "is_uk":
        shifted["is_uk"] = (np.random.default_rng(3).random(len(shifted)) < 0.5).astype(int)
    else:
        shifted[feature] = shifted[feature] * 3 + 1
    result = result_of(shifted, REFERENCE)
    assert result["families"]["propensity"]["drifted"] == [feature]
    assert any(f"feature {feature} drifted" in a for a in result["alerts"])
    assert result["retrain"] == ["propensity"]
    page = render(result)
    row = next(line for line in page.splitlines() if f"<td>{feature}</td>" in line)
    assert 'class="alert"' in row and "DRIFT" in row
    flagged = [
        line for line in page.splitlines() if "DRIFT" in line and "<td>prediction</td>" not in line
    ]
    assert flagged == [row]


def test_a_shifted_score_is_prediction_drift() -> None:
    frame = batch(1500, seed=2)
    profile = build_profile(REFERENCE, FEATURES, score(REFERENCE), source="x", time_column="t")
    part = check_family(profile, frame, np.clip(score(frame) + 0.3, 0, 1), LIMITS)
    assert part["prediction_drifted"] and part["drifted"] == []


def test_psi_is_zero_for_the_same_distribution_and_grows_with_the_shift() -> None:
    x = np.random.default_rng(0).normal(size=5000)
    assert psi_from_shares(np.array([1, 2, 3]), np.array([1, 2, 3])) == pytest.approx(0)
    small, large = numeric_psi(x, x + 0.1), numeric_psi(x, x + 1.0)
    assert 0 < small < 0.1 < LIMITS.psi_max < large


def test_a_small_sample_with_a_large_psi_is_not_drift_without_a_significant_test() -> None:
    rng = np.random.default_rng(0)
    drift = compare_numeric("f", rng.normal(size=2000), rng.normal(size=8), LIMITS)
    assert not drift.drifted


def test_a_missing_input_is_an_error_naming_it() -> None:
    profile = build_profile(REFERENCE, FEATURES, score(REFERENCE), source="x", time_column="t")
    with pytest.raises(ValueError, match="monetary"):
        check_family(profile, batch(100, 2).drop(columns="monetary"), np.zeros(100), LIMITS)


def test_matured_predictions_are_scored_and_immature_ones_wait() -> None:
    as_of = pd.Timestamp("2026-01-01")
    preds = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "score": [0.9, 0.8, 0.2, 0.1],
            "as_of": as_of,
            "model_version": "3",
        }
    )
    orders = pd.DataFrame(
        {
            "customer_id": ["a", "b", "x"],
            "ordered_at": pd.to_datetime(["2026-01-05", "2025-12-31", "2026-01-30"]),
        }
    )
    # the data ends on 2026-01-30 (its last snapshot would be the 31st): a 30-day horizon from
    # 2026-01-01 is covered, a 31-day one is not; only a ordered inside the window
    realised = score_matured("propensity", preds, orders, 30)
    assert realised is not None and realised.roc_auc == pytest.approx(1.0) and realised.n == 4
    assert realised.base_rate == pytest.approx(0.25)
    assert score_matured("propensity", preds, orders, 31) is None
    churn = score_matured("churn", preds, orders, 30)
    assert churn is not None and churn.base_rate == pytest.approx(0.75)
    assert churn.roc_auc == pytest.approx(0.0)  # the highest churn score went to the buyer
    result = {"limits": {}, "families": {}, "realised": [{**realised.to_dict(), "roc_auc": 0.4}]}
    messages, retrain = alerts(result, 0.55)
    assert retrain == ["propensity"] and "realised roc_auc 0.400" in messages[0]


def test_a_stale_store_is_an_alert_naming_it() -> None:
    from monitoring.freshness import Age

    stale = Age("customer_features", 100 * 3600.0, 48.0)
    assert stale.stale and not Age("x", 3600.0, 48.0).stale and not Age("x", None, 0).stale
    result = {"limits": {}, "families": {}, "freshness": [stale.to_dict()]}
    messages, retrain = alerts(result, 0)
    assert messages == ["freshness: customer_features is 100.0 h old (limit 48.0 h)"]
    assert retrain == []


def test_metrics_show_the_latest_result_and_follow_the_file(tmp_path) -> None:
    import json
    from datetime import datetime

    from serving.metrics import MonitorGauges

    gauges = MonitorGauges(tmp_path / "latest.json")
    assert gauges.lines() == []
    shifted = batch(1500, seed=2)
    shifted["monetary"] = shifted["monetary"] * 3 + 1
    result = result_of(shifted, REFERENCE)
    result["at"] = "2026-01-01T00:00:00+00:00"
    result["freshness"] = [{"name": "customer_features", "age_seconds": 60.0}]
    (tmp_path / "latest.json").write_text(json.dumps(result))
    at = datetime.fromisoformat(result["at"]).timestamp()
    text = "\n".join(gauges.lines(now=at + 40))
    psi = next(
        d["psi"] for d in result["families"]["propensity"]["features"] if d["feature"] == "monetary"
    )
    assert f'mercato_feature_psi{{family="propensity",feature="monetary"}} {psi!r}' in text
    assert 'mercato_mart_age_seconds{mart="customer_features"} 100.0' in text
    assert "mercato_monitor_alerts 1" in text and "mercato_prediction_psi{" in text
    from prometheus_client.parser import text_string_to_metric_families

    parsed = {f.name: f for f in text_string_to_metric_families(text + "\n")}
    assert parsed["mercato_feature_psi"].type == "gauge"
    assert len(parsed["mercato_feature_psi"].samples) == len(FEATURES)


def test_a_retrain_is_requested_once_per_champion_version(tmp_path) -> None:
    import dataclasses

    from mercato.settings import get_settings
    from monitoring.monitor import request_retrain

    settings = dataclasses.replace(get_settings(), home=tmp_path)
    result = {"retrain": ["propensity"], "families": {"propensity": {"version": "3"}}}
    assert request_retrain(settings, result) == ["propensity"]
    assert request_retrain(settings, result) == []
    result["families"]["propensity"]["version"] = "4"
    assert request_retrain(settings, result) == ["propensity"]


def test_the_mart_gate_pass_time_is_read_from_its_record_not_a_file_date(tmp_path) -> None:
    """A copied or restored data folder keeps the time its marts were built."""
    import dataclasses
    import os
    from datetime import UTC, datetime

    from expectations.mart_gate import GATE_PASSED_FILE, last_pass, record_pass
    from mercato.settings import get_settings

    settings = dataclasses.replace(get_settings(), home=tmp_path / "home")
    assert last_pass(settings) is None
    when = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    record_pass(settings, when)
    path = settings.gx_dir / GATE_PASSED_FILE
    os.utime(path, (0, 0))  # what a copy without -p, or a restore, may do to the file's dates
    assert last_pass(settings) == when
    path.write_text("{not json")
    assert last_pass(settings) is None
