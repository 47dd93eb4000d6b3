"""The promotion gate decides on evidence: on MLflow over SQLite and on a real MLflow server.

The models (``gate_models``) are logistic scorers with chosen weights on generated features, so
how much better a challenger is (in expectation) is known.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gate_models import CHAMPION, FEATURES, STRONG, WEAK, holdout, scorer

from mercato.settings import Settings
from models import registry
from models.gate import GateError, Policy
from models.propensity import propensity_evidence


# -- on MLflow: SQLite and a real server ------------------------------------------------------
@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from devtools.stack import MlflowServer

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
    from devtools.stack import MlflowServer

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
    from serving.processes import free_port

    down = dataclasses.replace(settings, mlflow_tracking_uri=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(Exception, match="127.0.0.1"):
        registry.champion_version(down, "anything")


@pytest.fixture(autouse=True)
def _no_leftover_hidden_artifacts(tmp_path: Path) -> Iterator[None]:
    yield
    for leftover in tmp_path.rglob("*.hidden"):
        shutil.rmtree(leftover, ignore_errors=True)
