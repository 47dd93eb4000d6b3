"""Airflow with the compose file's own configuration, on the stack's PostgreSQL.

The environment of the `airflow-api-server` service is taken from `docker compose config` (real
interpolation of a generated .env), and only what names a container is replaced by its local
equivalent. `docker/init.sh` (the compose `init` service) then migrates the databases and
creates the admin user, and the API server must refuse every unauthenticated request.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from stack_checks import COMPOSE_FILE, compose_config, compose_implementations
from test_stack_compose import write_env_file

from devtools.airflow_local import celery_on_stack
from devtools.stack import LocalStack
from mercato.settings import REPO_ROOT
from serving.processes import free_port, group_alive, start_server

#: Values that name a container or a path inside the image, replaced for a local run.
LOCAL_KEYS = {
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
    "AIRFLOW__API__HOST",
    "AIRFLOW__API__PORT",
    "AIRFLOW__API__BASE_URL",
    "AIRFLOW__COSMOS__CACHE_DIR",
    "MERCATO_HOME",
    "MERCATO_REDIS_URL",
    "MERCATO_MLFLOW_TRACKING_URI",
}
CONTAINER_NAMES = ("postgres:", "redis:", "mlflow:", "airflow-api-server:", "/data/", "/opt/")


def compose_environment(service: str, env_file: Path) -> dict[str, str]:
    implementations = compose_implementations()
    if not implementations:
        pytest.fail("no compose implementation found (see test_stack_compose.py)")
    result = compose_config(implementations[0], COMPOSE_FILE, env_file)
    assert result.returncode == 0, result.stderr
    env = yaml.safe_load(result.stdout)["services"][service]["environment"]
    return {key: str(value) for key, value in env.items()}


@pytest.fixture(scope="module")
def airflow(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    base = tmp_path_factory.mktemp("airflow")
    secrets_ = write_env_file(base / ".env")
    env = compose_environment("airflow-api-server", base / ".env")
    leftover = {
        k: v for k, v in env.items() if k not in LOCAL_KEYS and any(n in v for n in CONTAINER_NAMES)
    }
    assert not leftover, f"container-specific values not localised: {leftover}"
    port = free_port()
    celery = celery_on_stack(stack)
    env.update(
        {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": stack.airflow_db_url(),
            "AIRFLOW__CELERY__BROKER_URL": celery.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": celery.result_backend,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(
                base / "auth" / "passwords.json"
            ),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__COSMOS__CACHE_DIR": str(base / "cosmos"),
            "MERCATO_HOME": str(base / "home"),
            **{k: v for k, v in stack.env().items() if k.startswith("MERCATO_")},
            # Set by the Dockerfile in the image:
            "AIRFLOW_HOME": str(base / "airflow_home"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            # Init-only variables (compose `init` service):
            "MLFLOW_BACKEND_STORE_URI": stack.mlflow_db_url(),
            "AIRFLOW_ADMIN_USER": secrets_["AIRFLOW_ADMIN_USER"],
            "AIRFLOW_ADMIN_PASSWORD": secrets_["AIRFLOW_ADMIN_PASSWORD"],
        }
    )
    full_env = {**os.environ, **env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    init = subprocess.run(
        ["bash", str(REPO_ROOT / "docker" / "init.sh")],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert init.returncode == 0, init.stdout[-3000:] + init.stderr[-3000:]
    server = start_server(
        [str(Path(sys.executable).parent / "airflow"), "api-server"],
        full_env,
        "127.0.0.1",
        port,
        base / "api-server.log",
        ready_path="/api/v2/monitor/health",
        timeout=180,
        name="airflow api-server",
    )
    try:
        yield {
            "url": server.url,
            "user": secrets_["AIRFLOW_ADMIN_USER"],
            "password": secrets_["AIRFLOW_ADMIN_PASSWORD"],
            "init_log": init.stdout,
        }
    finally:
        server.stop(60)
        assert not group_alive(server.pid), "airflow api-server left a process behind"


def test_init_migrated_both_databases(stack: LocalStack, airflow: dict) -> None:
    import psycopg2

    with psycopg2.connect(stack.airflow_db_url().replace("+psycopg2", "")) as conn:
        cur = conn.cursor()
        cur.execute("select pool, slots from slot_pool where pool = 'mercato_duckdb'")
        assert cur.fetchall() == [("mercato_duckdb", 1)]
    with psycopg2.connect(stack.mlflow_db_url().replace("+psycopg2", "")) as conn:
        cur = conn.cursor()
        cur.execute("select count(*) from alembic_version")
        assert cur.fetchone() == (1,)


@pytest.mark.parametrize("path", ["/api/v2/dags", "/api/v2/pools", "/api/v2/config"])
def test_rest_api_refuses_unauthenticated_requests(airflow: dict, path: str) -> None:
    response = httpx.get(airflow["url"] + path, timeout=30)
    assert response.status_code in (401, 403), response.text


def test_only_the_configured_admin_gets_a_token(airflow: dict) -> None:
    token_url = airflow["url"] + "/auth/token"
    wrong = httpx.post(
        token_url, json={"username": airflow["user"], "password": "nope"}, timeout=30
    )
    assert wrong.status_code == 401
    nobody = httpx.post(token_url, json={"username": "admin2", "password": "x"}, timeout=30)
    assert nobody.status_code == 401
    good = httpx.post(
        token_url, json={"username": airflow["user"], "password": airflow["password"]}, timeout=30
    )
    assert good.status_code == 201, good.text
    headers = {"Authorization": f"Bearer {good.json()['access_token']}"}
    pools = httpx.get(airflow["url"] + "/api/v2/pools", headers=headers, timeout=30)
    assert pools.status_code == 200
    assert "mercato_duckdb" in {p["name"] for p in pools.json()["pools"]}
    forged = {"Authorization": "Bearer " + good.json()["access_token"][:-4] + "AAAA"}
    refused = httpx.get(airflow["url"] + "/api/v2/dags", headers=forged, timeout=30)
    assert refused.status_code in (401, 403)
