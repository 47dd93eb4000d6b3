"""The promotion gate decides on evidence: on MLflow over SQLite and on a real MLflow server.

The models here are logistic scorers with chosen weights on generated features, so how much
better a challenger is (in expectation) is known: a tiny real gain inside the noise, a clear
gain, and a champion whose hold-out labels were shuffled.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mercato.settings import Settings
from models import registry
from models.gate import GateError, Policy, auc_evidence, decide, mean_evidence, paired_bootstrap
from models.propensity import propensity_evidence
from models.pyfunc import PropensityModel

FEATURES = ["f0", "f1", "f2", "f3"]


def holdout(n: int = 1500, seed: int = 1) -> pd.DataFrame:
    """Labels driven by f0 (strongly) and f1 (weakly); f2 and f3 are noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    p = 1.0 / (1.0 + np.exp(-(x[:, 0] + 0.3 * x[:, 1])))
    frame = pd.DataFrame(x, columns=FEATURES)
    frame["label"] = (rng.random(n) < p).astype(int)
    return frame


def scorer(*weights: float) -> PropensityModel:
    """p = sigmoid(weights @ features): a served propensity model with chosen weights."""
    k = len(FEATURES)
    return PropensityModel(FEATURES, [], np.zeros(k), np.ones(k), np.array(weights), 0.0)


#: Champion: the strong feature plus noise. Weak challenger: a little of the weak feature,
#: with noise of its own (a real gain of ~0.007 ROC-AUC, well inside the noise). Strong
#: challenger: both signals, no noise.
CHAMPION = (1.0, 0.0, 0.5, 0.0)
WEAK = (1.0, 0.2, 0.0, 0.5)
STRONG = (1.0, 0.3, 0.0, 0.0)


# -- the rule itself --------------------------------------------------------------------------
def test_paired_bootstrap_of_a_model_with_itself_is_exactly_zero() -> None:
    data = holdout()
    a = propensity_evidence(scorer(*CHAMPION), data)
    same = paired_bootstrap(a, a)
    assert (same.delta, same.low, same.high) == (0.0, 0.0, 0.0)


def test_auc_evidence_matches_sklearn_on_a_resample() -> None:
    from sklearn.metrics import roc_auc_score

    data = holdout()
    score = data["f0"].round(1).to_numpy()  # ties, as real scores have
    evidence = auc_evidence({}, data["label"].to_numpy(), score)
    assert evidence.value() == pytest.approx(roc_auc_score(data["label"], score), abs=1e-12)
    idx = np.random.default_rng(3).integers(0, len(data), len(data))
    weights = np.bincount(idx, minlength=len(data)).astype(float)
    expected = roc_auc_score(data["label"].to_numpy()[idx], score[idx])
    assert evidence.statistic(weights) == pytest.approx(expected, abs=1e-12)


def test_rule_refuses_noise_promotes_evidence_and_flags_a_collapsed_champion() -> None:
    data = holdout()
    policy = Policy(metric="roc_auc", minimum=0.55, chance=0.5)
    champion = propensity_evidence(scorer(*CHAMPION), data)
    weak = decide(policy, propensity_evidence(scorer(*WEAK), data), champion, 0.75, "1")
    assert not weak.promoted and weak.comparison is not None
    assert weak.comparison.delta > 0 > weak.comparison.low, weak.reason
    assert "inside the noise" in weak.reason
    strong = decide(policy, propensity_evidence(scorer(*STRONG), data), champion, 0.75, "1")
    assert strong.promoted and strong.comparison.low > 0, strong.reason

    shuffled = data.assign(label=np.random.default_rng(0).permutation(data["label"]))
    broken = decide(
        policy,
        propensity_evidence(scorer(*STRONG), shuffled),
        propensity_evidence(scorer(*CHAMPION), shuffled),
        champion.value(),
        "1",
    )
    assert not broken.promoted and broken.broken_data
    assert "data look broken" in broken.reason


def test_rule_applies_the_minimum_and_the_baseline_even_without_a_champion() -> None:
    policy = Policy(metric="ndcg_at_10", minimum=0.05)
    low = mean_evidence({}, np.full(100, 0.04))
    assert "below the family's minimum" in decide(policy, low).reason
    good = mean_evidence({}, np.full(100, 0.2))
    assert not decide(policy, good, floor=0.25).promoted
    assert decide(policy, good, floor=0.1).promoted


# -- on MLflow: SQLite and a real server ------------------------------------------------------
@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from mercato.stack import MlflowServer

    base = tmp_path_factory.mktemp("gate-mlflow-server")
    server = MlflowServer(base, f"sqlite:///{base / 'backend.db'}").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "server"])
def store(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The test's settings on MLflow over SQLite, or on the module's real MLflow server."""
    if request.param == "sqlite":
        return settings
    server = request.getfixturevalue("mlflow_server")
    return dataclasses.replace(settings, mlflow_tracking_uri=server.url)


def _gate(settings: Settings, name: str, weights: tuple[float, ...], data: pd.DataFrame):
    from models import tracking

    model = scorer(*weights)
    with tracking.start_run(settings, "gate-tests", name) as run:
        info = tracking.log_pyfunc(model, data[FEATURES].head(3))
    return registry.register_and_gate(
        settings,
        name,
        info.model_uri,
        run.info.run_id,
        challenger=propensity_evidence(model, data),
        evidence=lambda m: propensity_evidence(m, data),
        policy=Policy.from_settings(settings, "roc_auc", minimum=0.55, chance=0.5),
        tags={"weights": weights},
    )


def _model_name(request: pytest.FixtureRequest) -> str:
    """A registered model per test and store, so tests sharing one server never meet."""
    return "gate_" + "".join(ch if ch.isalnum() else "_" for ch in request.node.name)[-60:]


def test_noise_is_refused_with_its_interval_and_a_clear_win_is_promoted(
    store: Settings, request: pytest.FixtureRequest
) -> None:
    name, data = _model_name(request), holdout()
    assert _gate(store, name, CHAMPION, data).promoted
    weak = _gate(store, name, WEAK, data)
    assert not weak.promoted and weak.deltas["roc_auc"] > 0
    tags = registry.client(store).get_model_version(name, weak.version).tags
    low, high = float(tags["gate.interval_low"]), float(tags["gate.interval_high"])
    assert low < 0 < float(tags["gate.delta.roc_auc"]) < high
    assert tags["gate.decision"] == "rejected" and "inside the noise" in tags["gate.reason"]
    assert tags["gate.bootstrap_samples"] == "1000" and tags["gate.confidence"] == "0.95"
    strong = _gate(store, name, STRONG, data)
    assert strong.promoted and strong.interval is not None and strong.interval[0] > 0
    assert registry.champion_version(store, name) == strong.version


def test_shuffled_labels_refuse_promotion_as_broken_data(
    store: Settings, request: pytest.FixtureRequest
) -> None:
    name, data = _model_name(request), holdout()
    first = _gate(store, name, CHAMPION, data)
    shuffled = data.assign(label=np.random.default_rng(0).permutation(data["label"]))
    second = _gate(store, name, STRONG, shuffled)
    assert not second.promoted and second.broken_data, second.reason
    assert registry.champion_version(store, name) == first.version
    tags = registry.client(store).get_model_version(name, second.version).tags
    assert tags["gate.broken_data"] == "true" and "data look broken" in tags["gate.reason"]


def _champion_artifacts(settings: Settings, name: str) -> Path:
    """The local folder holding the champion's model files."""
    import mlflow

    c = registry.client(settings)
    source = c.get_model_version_by_alias(name, registry.CHAMPION).source
    location = mlflow.get_logged_model(source.split("/", 1)[1]).artifact_location
    return Path(location.removeprefix("file://"))


def test_a_champion_that_cannot_be_downloaded_fails_the_gate_and_moves_nothing(
    store: Settings, request: pytest.FixtureRequest
) -> None:
    name, data = _model_name(request), holdout()
    first = _gate(store, name, CHAMPION, data)
    artifacts = _champion_artifacts(store, name)
    hidden = artifacts.with_name(artifacts.name + ".hidden")
    artifacts.rename(hidden)
    try:
        with pytest.raises(GateError, match="could not read the champion"):
            _gate(store, name, STRONG, data)
    finally:
        hidden.rename(artifacts)
    assert registry.champion_version(store, name) == first.version
    # the retry, once the champion can be read, finishes the same version
    retried = _gate(store, name, STRONG, data)
    assert retried.promoted and not retried.reused
    assert len(registry.client(store).search_model_versions(f"name='{name}'")) == 2


def test_an_mlflow_outage_during_the_gate_fails_it_and_moves_nothing(
    settings: Settings,
    mlflow_server: object,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """The server stops between registering the challenger and reading the champion."""
    from mercato.stack import MlflowServer

    server: MlflowServer = mlflow_server  # type: ignore[assignment]
    store = dataclasses.replace(settings, mlflow_tracking_uri=server.url)
    name, data = _model_name(request), holdout()
    first = _gate(store, name, CHAMPION, data)
    load = registry.load_version

    def load_during_outage(*args: object, **kwargs: object) -> object:
        server.stop()
        return load(*args, **kwargs)

    monkeypatch.setattr(registry, "load_version", load_during_outage)
    try:
        with pytest.raises(GateError, match="could not read the champion") as failure:
            _gate(store, name, STRONG, data)
        assert server.url in str(failure.value)
    finally:
        monkeypatch.setattr(registry, "load_version", load)
        server.start()
    assert registry.champion_version(store, name) == first.version
    versions = registry.client(store).search_model_versions(f"name='{name}'")
    undecided = [v for v in versions if "gate.decision" not in v.tags]
    assert [v.version for v in undecided] == ["2"]
    assert _gate(store, name, STRONG, data).promoted


def test_an_unreachable_registry_is_not_mistaken_for_no_champion(settings: Settings) -> None:
    from mercato.processes import free_port

    down = dataclasses.replace(settings, mlflow_tracking_uri=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(Exception, match="127.0.0.1"):
        registry.champion_version(down, "anything")


@pytest.fixture(autouse=True)
def _no_leftover_hidden_artifacts(tmp_path: Path) -> Iterator[None]:
    yield
    for leftover in tmp_path.rglob("*.hidden"):
        shutil.rmtree(leftover, ignore_errors=True)
