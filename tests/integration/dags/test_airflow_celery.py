"""The pipeline DAG on Airflow's CeleryExecutor: real Redis broker, PostgreSQL, two workers.

``devtools.airflow_local`` starts api-server, scheduler, dag-processor, Flower and two
``airflow celery worker`` processes (one task slot each) on a throwaway PostgreSQL (metadata and
Celery results) and Redis (broker) from ``devtools.stack``. ``mercato_pipeline`` is triggered
through the REST API on the small fixed-date batch and must succeed, and the metadata must show
that the Celery workers ran it: every task instance's executor id is a Celery task that the
result backend records as a success on one of the two workers, and both workers took tasks (the
trainings run side by side). A LocalExecutor run fails these checks: it leaves no Celery task
behind. Celery Flower runs beside them and shows the two workers to its basic-auth user only.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from dag_helpers import AFTER_INGEST
from live_airflow import (
    LiveAirflow,
    explain,
    running_airflow,
    task_instances,
    trigger,
    wait_for_run,
)
from needs_servers import require_servers

from devtools import airflow_local
from devtools.stack import LocalStack, start_stack
from mercato.settings import get_settings

pytestmark = pytest.mark.slow

DAG_ID = "mercato_pipeline"
WORKERS = 2


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    """PostgreSQL (Airflow's database) and Redis; no MLflow server (the tasks use a local store)."""
    require_servers()
    running = start_stack(with_mlflow=False)
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(running.base_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def celery(stack: LocalStack) -> airflow_local.CeleryConfig:
    config = airflow_local.celery_on_stack(stack, workers=WORKERS, concurrency=1)
    return dataclasses.replace(config, flower_port=airflow_local.free_port())


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory,
    small_orders: Path,
    celery: airflow_local.CeleryConfig,
) -> Iterator[LiveAirflow]:
    home = tmp_path_factory.mktemp("airflow-celery") / "home"
    settings = dataclasses.replace(get_settings(), home=home, mlflow_tracking_uri="")
    settings.ensure_dirs()
    shutil.copy(small_orders, settings.landing_dir / small_orders.name)
    with running_airflow(settings, celery=celery) as live:
        yield live


@pytest.fixture(scope="module")
def pipeline_run(live: LiveAirflow) -> dict[str, Any]:
    """``mercato_pipeline`` triggered once through the REST API and waited for."""
    started = time.monotonic()
    run_id = trigger(live, DAG_ID)
    state = wait_for_run(live, DAG_ID, run_id)
    assert state == "success", explain(live, DAG_ID, run_id)
    print(f"\nmercato_pipeline on {WORKERS} Celery workers: {time.monotonic() - started:.0f} s")
    return {"run_id": run_id, "tis": task_instances(live, DAG_ID, run_id)}


def _executed_by(stack: LocalStack, run_id: str) -> dict[str, tuple[Any, ...]]:
    """Per task of the run: (Airflow queue, Celery task id, its status, worker, Celery queue),
    joined from Airflow's ``task_instance`` and the result backend's ``celery_taskmeta``."""
    import psycopg2

    with psycopg2.connect(stack.airflow_db_url().replace("+psycopg2", "")) as conn:
        cur = conn.cursor()
        cur.execute(
            "select ti.task_id, ti.queue, ti.external_executor_id, m.status, m.worker, m.queue"
            " from task_instance ti"
            " left join celery_taskmeta m on m.task_id = ti.external_executor_id"
            " where ti.dag_id = %s and ti.run_id = %s",
            (DAG_ID, run_id),
        )
        return {row[0]: tuple(row[1:]) for row in cur.fetchall()}


def test_the_workers_answer_and_every_dag_parses(
    live: LiveAirflow, celery: airflow_local.CeleryConfig
) -> None:
    status = airflow_local.status(live.settings)
    names = [*airflow_local.COMPONENTS, *celery.worker_names()]
    assert all(status[name]["live_processes"] for name in names), status
    nodes = airflow_local.celery_ping(celery.broker_url)
    assert [node.split("@")[0] for node in nodes] == celery.worker_names()
    assert live.api.get("/importErrors").json()["total_entries"] == 0


def test_flower_shows_the_workers_to_its_user_only(
    live: LiveAirflow, celery: airflow_local.CeleryConfig
) -> None:
    url, password = live.info.flower_url, live.info.flower_password
    assert url and password
    refused = httpx.get(f"{url}/api/workers", timeout=30)
    assert refused.status_code == 401
    wrong = httpx.get(f"{url}/api/workers", auth=(live.info.username, "nope"), timeout=30)
    assert wrong.status_code == 401
    answer = httpx.get(
        f"{url}/api/workers",
        params={"refresh": "true"},
        auth=(live.info.username, password),
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert sorted(node.split("@")[0] for node in answer.json()) == celery.worker_names()


def test_the_pipeline_runs_on_the_celery_workers(
    live: LiveAirflow,
    stack: LocalStack,
    celery: airflow_local.CeleryConfig,
    pipeline_run: dict[str, Any],
) -> None:
    tis = pipeline_run["tis"]
    assert {t: ti["state"] for t, ti in tis.items()} == dict.fromkeys(
        ("ingest", *AFTER_INGEST), "success"
    )
    # Airflow records a task's success before its Celery task returns and stores its result.
    end = time.monotonic() + 120
    executed = _executed_by(stack, pipeline_run["run_id"])
    while time.monotonic() < end and any(row[2] == "STARTED" for row in executed.values()):
        time.sleep(1)
        executed = _executed_by(stack, pipeline_run["run_id"])
    assert set(executed) == set(tis)
    workers = set(celery.worker_names())
    for task_id, (queue, celery_id, status, worker, celery_queue) in executed.items():
        assert queue == celery.queue, f"{task_id} was queued on {queue!r}"
        assert celery_id, f"{task_id} has no Celery task: it did not run through Celery"
        assert status == "SUCCESS", f"{task_id}: Celery task {celery_id} is {status}"
        assert worker and worker.split("@")[0] in workers, f"{task_id} ran on {worker!r}"
        assert celery_queue == celery.queue
    used = {worker.split("@")[0] for _, _, _, worker, _ in executed.values()}
    assert used == workers, f"only {sorted(used)} took tasks"
    print(
        "tasks per worker: "
        + ", ".join(
            f"{w} {sum(1 for row in executed.values() if row[3].startswith(w + '@'))}"
            for w in sorted(workers)
        )
    )
