"""A real Airflow on 127.0.0.1 for a test module, and the REST calls its tests make.

Shared by ``test_airflow_e2e.py`` (LocalExecutor) and ``test_airflow_celery.py``
(CeleryExecutor): ``running_airflow`` starts Airflow through ``devtools.airflow_local``, yields
an authenticated API client and, on the way out, stops Airflow and checks that no process of it
is left and that its API no longer answers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from devtools import airflow_local
from mercato.settings import Settings

RUN_DEADLINE = 600.0  # seconds for one DAG run on 2 shared cores


@dataclass
class LiveAirflow:
    settings: Settings
    info: airflow_local.AirflowInfo
    api: httpx.Client
    sessions: list[int]


@contextmanager
def running_airflow(settings: Settings, **start: Any) -> Iterator[LiveAirflow]:
    """Airflow for ``settings`` (``start`` goes to ``airflow_local.start``), stopped afterwards."""
    info = airflow_local.start(
        settings, port=airflow_local.free_port(), timeout=240, quiet=True, **start
    )
    sessions = [p["pgid"] for p in info.processes.values()]
    try:
        token = httpx.post(
            f"{info.url}/auth/token",
            json={"username": info.username, "password": info.password},
            timeout=30,
        )
        token.raise_for_status()
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        with httpx.Client(base_url=f"{info.url}/api/v2", headers=headers, timeout=30) as api:
            yield LiveAirflow(settings, info, api, sessions)
    finally:
        airflow_local.stop(settings)
    # The stop itself is under test: nothing of the components may be left behind.
    left = [pid for sid in sessions for pid in airflow_local.session_pids(sid)]
    assert left == [], f"processes left behind: {left}"
    try:
        httpx.get(f"{info.url}/api/v2/monitor/health", timeout=3)
    except httpx.HTTPError:
        return
    raise AssertionError(f"Airflow's API at {info.url} still answers after stop")


def trigger(live: LiveAirflow, dag_id: str) -> str:
    """Unpause ``dag_id`` and start a run now; returns the run id."""
    live.api.patch(f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
    answer = live.api.post(f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
    answer.raise_for_status()
    return str(answer.json()["dag_run_id"])


def task_instances(live: LiveAirflow, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
    answer = live.api.get(f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
    answer.raise_for_status()
    return {ti["task_id"]: ti for ti in answer.json()["task_instances"]}


def wait_for_run(live: LiveAirflow, dag_id: str, run_id: str) -> str:
    """Wait until the run finishes (or the deadline passes); returns its final state."""
    end = time.monotonic() + RUN_DEADLINE
    state = "unknown"
    while time.monotonic() < end:
        state = live.api.get(f"/dags/{dag_id}/dagRuns/{run_id}").json()["state"]
        if state in ("success", "failed"):
            return state
        time.sleep(2)
    return state


def explain(live: LiveAirflow, dag_id: str, run_id: str) -> str:
    """Task states and the log tail of each failed task, for a readable assertion message."""
    tis = task_instances(live, dag_id, run_id)
    lines = [f"{t}: {ti['state']} (try {ti['try_number']})" for t, ti in sorted(tis.items())]
    logs = Path(live.info.airflow_home) / "logs"
    for task_id, ti in tis.items():
        if ti["state"] in ("failed", "up_for_retry"):
            for log in sorted(logs.glob(f"dag_id={dag_id}/run_id={run_id}/task_id={task_id}/*")):
                lines.append(f"--- {log}\n{log.read_text(errors='replace')[-4000:]}")
    return "\n".join(lines)
