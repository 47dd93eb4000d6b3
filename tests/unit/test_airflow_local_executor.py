"""``devtools.airflow_local`` takes the executor as a parameter: LocalExecutor on SQLite unless a
CeleryConfig is given, and then every Celery setting comes from it (no server started here)."""

from __future__ import annotations

import stat

from devtools import airflow_local
from mercato.settings import Settings

CELERY = airflow_local.CeleryConfig(
    sql_alchemy_conn="postgresql+psycopg2://airflow:pw@127.0.0.1:5999/airflow",
    broker_url="redis://:pw@127.0.0.1:6999/1",
    result_backend="db+postgresql+psycopg2://airflow:pw@127.0.0.1:5999/airflow",
    workers=3,
    concurrency=2,
    flower_port=5999,
)


def test_the_default_is_the_local_executor_on_sqlite(settings: Settings) -> None:
    env = airflow_local.airflow_env(settings, port=18080)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite:///")
    assert not any(key.startswith("AIRFLOW__CELERY") for key in env)


def test_a_celery_config_switches_executor_database_and_broker(settings: Settings) -> None:
    env = airflow_local.airflow_env(settings, port=18080, celery=CELERY)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == CELERY.sql_alchemy_conn
    assert env["AIRFLOW__CELERY__BROKER_URL"] == CELERY.broker_url
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == CELERY.result_backend
    assert env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] == "2"
    assert env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == CELERY.queue
    # Longer than the longest task (30 min), or Redis would hand a running task to a 2nd worker.
    assert int(env["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT"]) > 1800


def test_each_worker_is_a_named_node_on_the_queue() -> None:
    assert CELERY.worker_names() == ["celery-worker-1", "celery-worker-2", "celery-worker-3"]
    command = airflow_local.celery_worker_command(CELERY, "celery-worker-2")
    assert command[:2] == ["celery", "worker"]
    assert command[command.index("--celery-hostname") + 1] == "celery-worker-2@%h"
    assert command[command.index("--concurrency") + 1] == "2"
    assert command[command.index("--queues") + 1] == CELERY.queue


def test_secrets_are_kept_owner_only(settings: Settings) -> None:
    path = settings.home / "secret"
    first = airflow_local._kept_secret(path, 24)
    assert airflow_local._kept_secret(path, 24) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
