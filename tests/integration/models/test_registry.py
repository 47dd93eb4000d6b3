"""The promotion gate, manual promote/rollback and concurrent registration, on real MLflow."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from model_data import labelled

from mercato.settings import Settings
from models import registry, training
from models.gate import Policy
from models.propensity import (
    MODEL_NAME,
    PropensityFamily,
    fit_logistic,
    propensity_evidence,
    time_split,
)


def _log_model(settings: Settings, model) -> tuple[str, str]:
    """Log a pyfunc in a run and return (model uri, run id)."""
    from models import tracking

    with tracking.start_run(settings, "registry-tests", "t") as run:
        info = tracking.log_pyfunc(model, pd.DataFrame({f: [1.0] for f in model.feature_names}))
    return info.model_uri, run.info.run_id


def test_shuffled_label_challenger_is_not_promoted(
    settings: Settings, synthetic_snapshots: pd.DataFrame
) -> None:
    data = labelled(synthetic_snapshots)
    first = training.train(PropensityFamily(), settings, data=data)
    assert first.promoted and first.version == "1"

    shuffled = data.copy()
    shuffled["label"] = np.random.default_rng(0).permutation(shuffled["label"].to_numpy())
    second = training.train(PropensityFamily(), settings, data=shuffled)
    assert not second.promoted
    assert registry.champion_version(settings, MODEL_NAME) == "1"
    tags = registry.client(settings).get_model_version(MODEL_NAME, second.version).tags
    assert tags["gate.decision"] == "rejected"
    assert tags["gate.champion_version"] == "1"
    assert float(tags["gate.delta.roc_auc"]) < 0
    assert tags["gate.decided_at"]
    aliases = registry.client(settings).get_registered_model(MODEL_NAME).aliases
    assert str(aliases["challenger"]) == second.version


def test_better_challenger_is_promoted_and_rollback_restores(
    settings: Settings, synthetic_snapshots: pd.DataFrame
) -> None:
    train, test = time_split(labelled(synthetic_snapshots), 30, 30)
    weak = fit_logistic(train, 1.0, features=["return_rate", "is_uk"])
    strong = fit_logistic(train, 1.0)

    def gate(model):
        uri, run_id = _log_model(settings, model)
        return registry.register_and_gate(
            settings,
            MODEL_NAME,
            uri,
            run_id,
            challenger=propensity_evidence(model, test),
            evidence=lambda m: propensity_evidence(m, test),
            policy=Policy.from_settings(settings, "roc_auc"),
        )

    first = gate(weak)
    assert first.promoted and first.reason == "no champion yet"
    second = gate(strong)
    assert second.promoted, second.reason
    assert second.champion_version == first.version
    assert second.deltas["roc_auc"] > 0
    assert registry.champion_version(settings, MODEL_NAME) == second.version

    restored = registry.rollback(settings, MODEL_NAME)
    assert restored["champion"] == first.version
    champion, version = registry.load_champion(settings, MODEL_NAME)
    assert version == first.version
    assert champion.feature_names == ["return_rate", "is_uk"]
    with pytest.raises(LookupError):
        registry.rollback(settings, MODEL_NAME)

    registry.promote(settings, MODEL_NAME, second.version)
    assert registry.champions(settings)[MODEL_NAME] == second.version


def test_margin_blocks_a_small_win(settings: Settings, synthetic_snapshots: pd.DataFrame) -> None:
    import dataclasses

    train, test = time_split(labelled(synthetic_snapshots), 30, 30)
    strict = dataclasses.replace(settings, promotion_margin=0.9)
    weak = fit_logistic(train, 1.0, features=["return_rate", "is_uk"])
    uri, run_id = _log_model(strict, weak)
    registry.promote(strict, MODEL_NAME, registry.register(strict, MODEL_NAME, uri, run_id))
    uri, run_id = _log_model(strict, fit_logistic(train, 1.0))
    decision = registry.register_and_gate(
        strict,
        MODEL_NAME,
        uri,
        run_id,
        challenger=propensity_evidence(fit_logistic(train, 1.0), test),
        evidence=lambda m: propensity_evidence(m, test),
        policy=Policy.from_settings(strict, "roc_auc"),
    )
    assert decision.deltas["roc_auc"] > 0 and not decision.promoted


def test_ten_concurrent_registrations_get_ten_versions(
    settings: Settings, synthetic_snapshots: pd.DataFrame
) -> None:
    train, _ = time_split(labelled(synthetic_snapshots), 30, 30)
    uri, run_id = _log_model(settings, fit_logistic(train, 1.0))
    versions: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(10)

    def worker() -> None:
        try:
            start.wait()
            versions.append(registry.register(settings, "concurrency_test", uri, run_id))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(versions, key=int) == [str(v) for v in range(1, 11)]


def test_training_again_on_the_same_data_reuses_the_version(
    settings: Settings, synthetic_snapshots: pd.DataFrame
) -> None:
    """A retried training (as after a killed Airflow try) neither duplicates nor half-writes."""
    data = labelled(synthetic_snapshots)
    first = training.train(PropensityFamily(), settings, data=data)
    again = training.train(PropensityFamily(), settings, data=data)
    # same data and seed: same metrics, and the version trained on them is reused, not gated again
    assert again.metrics == first.metrics
    assert again.version == first.version
    assert "unchanged" in again.decision
    c = registry.client(settings)
    assert [str(v.version) for v in c.search_model_versions(f"name='{MODEL_NAME}'")] == ["1"]
    assert registry.champion_version(settings, MODEL_NAME) == first.version

    # A try killed between creating the version and recording the gate decision: the retry
    # finishes that version instead of registering another.
    train, test = time_split(data, 30, 30)
    model = fit_logistic(train, 1.0, features=["recency_days", "frequency"])
    challenger = propensity_evidence(model, test)
    uri, run_id = _log_model(settings, model)
    key = registry.training_key(settings, MODEL_NAME, {"try": "killed"}, challenger.metrics)
    orphan = registry.register(
        settings, MODEL_NAME, uri, run_id, {"try": "killed", registry.TRAINING_KEY_TAG: key}
    )
    assert "gate.decision" not in c.get_model_version(MODEL_NAME, orphan).tags
    decision = registry.register_and_gate(
        settings,
        MODEL_NAME,
        uri,
        run_id,
        challenger=challenger,
        evidence=lambda m: propensity_evidence(m, test),
        policy=Policy.from_settings(settings, "roc_auc"),
        tags={"try": "killed"},
    )
    assert decision.version == orphan and not decision.reused
    assert "gate.decision" in c.get_model_version(MODEL_NAME, orphan).tags
    assert len(c.search_model_versions(f"name='{MODEL_NAME}'")) == 2
