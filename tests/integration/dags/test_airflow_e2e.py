"""Real Airflow on 127.0.0.1: the pipeline through the REST API, a killed training, a clean stop.

One Airflow (api-server, scheduler, dag-processor started by ``devtools.airflow_local``) serves
the module, because starting it costs ~20 s, and one pipeline run through its REST API
(``pipeline_run``) is what the tests examine, so they pass in any order. Stopping Airflow is
the module fixture's teardown, which checks that no process is left.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dag_helpers import AFTER_INGEST, FIRST_CHAMPIONS, TRAINED_MODELS, champions, model_versions
from live_airflow import (
    RUN_DEADLINE,
    LiveAirflow,
    explain,
    running_airflow,
    task_instances,
    trigger,
    wait_for_run,
)
from served_models import served_champions

from devtools import airflow_local
from mercato.settings import Settings, get_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, small_orders: Path) -> Iterator[LiveAirflow]:
    home = tmp_path_factory.mktemp("airflow-live") / "home"
    settings = dataclasses.replace(get_settings(), home=home, mlflow_tracking_uri="")
    settings.ensure_dirs()
    shutil.copy(small_orders, settings.landing_dir / small_orders.name)
    with running_airflow(settings) as live:
        yield live


@pytest.fixture(scope="module")
def pipeline_run(live: LiveAirflow) -> dict[str, Any]:
    """``mercato_pipeline`` triggered once through the REST API and waited for."""
    run_id = trigger(live, "mercato_pipeline")
    state = wait_for_run(live, "mercato_pipeline", run_id)
    assert state == "success", explain(live, "mercato_pipeline", run_id)
    return {
        "run_id": run_id,
        "tis": task_instances(live, "mercato_pipeline", run_id),
        "versions": model_versions(live.settings),
        "champions": champions(live.settings),
    }


def test_every_component_runs_and_every_dag_parses(live: LiveAirflow) -> None:
    assert all(
        airflow_local.status(live.settings)[c]["live_processes"] for c in airflow_local.COMPONENTS
    )
    dags = live.api.get("/dags").json()
    assert {d["dag_id"] for d in dags["dags"]} >= {"mercato_pipeline", "mercato_train"}
    assert live.api.get("/importErrors").json()["total_entries"] == 0


def test_pipeline_through_the_rest_api(live: LiveAirflow, pipeline_run: dict[str, Any]) -> None:
    """Trigger the pipeline by REST: it succeeds, registers models, the service serves them."""
    tis = pipeline_run["tis"]
    assert {t: ti["state"] for t, ti in tis.items()} == dict.fromkeys(
        ("ingest", *AFTER_INGEST), "success"
    )
    versions = pipeline_run["versions"]
    assert all(len(versions[name]) == 1 for name in TRAINED_MODELS), "one version per family"
    served = pipeline_run["champions"]
    assert all(served[name] for name in FIRST_CHAMPIONS), served
    print(
        "\ntask durations (s): " + ", ".join(f"{t} {ti['duration']:.1f}" for t, ti in tis.items())
    )

    from serving.launch import free_port, start_background

    with start_background(live.settings, port=free_port(), timeout=240) as service:
        info = httpx.post(f"{service.url}/model_info", json={}, timeout=30)
        assert info.status_code == 200, info.text
        answered = {m["name"]: m["version"] for m in info.json()["models"]}
    expected = {name: served.get(name) for name in answered}
    assert set(answered) == set(served_champions(live.settings)), "one entry per served model"
    assert answered == expected, "the service serves the champions the pipeline registered"


def test_killed_training_is_retried_to_the_same_result(
    live: LiveAirflow, pipeline_run: dict[str, Any]
) -> None:
    """SIGKILL ``train_propensity`` mid-run: the retry registers what an uninterrupted run did.

    The task is rerun by clearing it in the end-to-end run (the documented way to retrain one
    family), so only this training competes for the two cores.
    """
    dag_id, run_id, task_id = "mercato_pipeline", pipeline_run["run_id"], "train_propensity"
    name = "mercato_propensity"
    uninterrupted = pipeline_run["versions"][name][-1]
    before = model_versions(live.settings)

    # Runs are told apart by id, not by start time.
    known = _run_ids(live.settings)
    cleared = live.api.post(
        f"/dags/{dag_id}/clearTaskInstances",
        json={"dry_run": False, "dag_run_id": run_id, "task_ids": [task_id], "only_failed": False},
    )
    cleared.raise_for_status()
    # Mid-run means: the task's MLflow run is open (the model fitted, its logging under way).
    # That lasts about two seconds, so the task's process is found first (the Airflow API and
    # a process scan take up to seconds on loaded cores) and then only the store is polled.
    end = time.monotonic() + RUN_DEADLINE
    ti: dict[str, Any] = {}
    process = None
    while time.monotonic() < end and process is None:
        ti = task_instances(live, dag_id, run_id)[task_id]
        assert ti["state"] not in ("success", "failed"), f"{task_id} ended before the kill: {ti}"
        if ti["state"] == "running":
            process = _task_process(ti["id"])
        time.sleep(0.2)
    assert process is not None, f"{task_id} never started: {ti}"
    opened = 0
    while time.monotonic() < end and process.is_running() and not opened:
        opened = _open_mlflow_runs(live.settings, known)
        time.sleep(0.01)
    assert opened and process.is_running(), f"{task_id} ended before its MLflow run was seen"
    killed_try = int(ti["try_number"])
    process.send_signal(signal.SIGKILL)

    state = wait_for_run(live, dag_id, run_id)
    assert state == "success", explain(live, dag_id, run_id)
    final = task_instances(live, dag_id, run_id)[task_id]
    assert final["state"] == "success"
    assert final["try_number"] == killed_try + 1, "the killed try failed, the retry succeeded"

    after = model_versions(live.settings)
    new = after[name][len(before[name]) :]
    # Same data, parameters and code as the uninterrupted run: the retry reuses its version,
    # exactly as an uninterrupted rerun does, so nothing is duplicated.
    assert new == [], f"the retry registered {[v.version for v in new]} again"
    for version in after[name]:
        assert version.status == "READY"
        assert "gate.decision" in version.tags, f"v{version.version} is half-written"
    latest = _latest_run_metrics(live.settings, known)
    assert latest == pytest.approx(_metrics(live.settings, uninterrupted)), (
        "same data and seed: the retry trained the same model as the uninterrupted run"
    )
    assert champions(live.settings) == pipeline_run["champions"]


def _task_process(ti_id: str) -> Any:
    """The process running a task instance's code (not its supervising executor worker).

    Airflow titles it ``airflow worker -- <ti id>``; the LocalExecutor worker that supervises it
    is ``airflow worker -- LocalExecutor: <ti id>``. Killing the worker instead would leave the
    task running unsupervised until the scheduler's heartbeat timeout (300 s).
    """
    import psutil

    title = f"airflow worker -- {ti_id}"
    for proc in psutil.process_iter(["cmdline"]):
        if " ".join(proc.info["cmdline"] or []).strip() == title:
            return proc
    return None


def _runs(settings: Settings) -> list[tuple[str, str, int]]:
    """(run id, status, start time) of every MLflow run (a read-only peek at the store)."""
    import sqlite3

    path = settings.mlflow_dir / "mlflow.db"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as con:
        return con.execute("select run_uuid, status, start_time from runs").fetchall()


def _run_ids(settings: Settings) -> set[str]:
    return {run_id for run_id, _, _ in _runs(settings)}


def _open_mlflow_runs(settings: Settings, known: set[str]) -> int:
    """How many MLflow runs not in ``known`` are still open."""
    return sum(
        1 for run_id, status, _ in _runs(settings) if status == "RUNNING" and run_id not in known
    )


def _metrics(settings: Settings, version: Any) -> dict[str, float]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    return dict(client.get_run(version.run_id).data.metrics)


def _latest_run_metrics(settings: Settings, known: set[str]) -> dict[str, float]:
    """Metrics of the newest finished MLflow run not in ``known`` (the retry's)."""
    from mlflow import MlflowClient

    finished = [
        (start, run_id) for run_id, status, start in _runs(settings) if status == "FINISHED"
    ]
    new = sorted((start, run_id) for start, run_id in finished if run_id not in known)
    assert new, "the retried task finished no MLflow run"
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    return dict(client.get_run(new[-1][1]).data.metrics)
