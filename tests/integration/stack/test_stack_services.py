"""PostgreSQL, Redis and the MLflow server of the stack, tested over their own protocols."""

from __future__ import annotations

import socket
import time

import httpx
import psycopg2
import pytest
from needs_servers import require_servers
from tests_stack_helpers import assert_stopped, stack_pids

from devtools.stack import LocalStack, local_stack

API = "/api/2.0/mlflow"


def sql(url: str, query: str, *args: object) -> list[tuple]:
    with psycopg2.connect(url.replace("+psycopg2", "")) as conn, conn.cursor() as cur:
        cur.execute(query, args)
        return cur.fetchall()


def test_each_service_owns_its_database_alone(stack: LocalStack) -> None:
    assert sql(stack.airflow_db_url(), "select current_user, current_database()") == [
        ("airflow", "airflow")
    ]
    assert sql(stack.mlflow_db_url(), "select current_user, current_database()") == [
        ("mlflow", "mlflow")
    ]
    stranger = stack.postgres.url("mlflow", "airflow", stack.passwords["AIRFLOW_DB_PASSWORD"])
    with pytest.raises(psycopg2.OperationalError, match="permission denied"):
        psycopg2.connect(stranger)
    wrong = stack.postgres.url("airflow", "airflow", "not-the-password")
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(wrong)


def test_init_script_is_idempotent(stack: LocalStack) -> None:
    stack.postgres.run_init_script(stack.passwords)
    assert sql(stack.airflow_db_url(), "select 1") == [(1,)]


def test_redis_requires_its_password(stack: LocalStack) -> None:
    import redis

    with socket.create_connection(("127.0.0.1", stack.redis.port), timeout=5) as sock:
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        assert sock.recv(256).startswith(b"-NOAUTH")
    client = redis.Redis.from_url(stack.redis.url)
    client.set("mercato:probe", "1")
    assert client.get("mercato:probe") == b"1"
    client.close()


def test_mlflow_tracks_registers_and_aliases_on_postgres(stack: LocalStack) -> None:
    """Experiment, run, artifact, registered version and alias, all over MLflow's REST API."""
    assert stack.mlflow is not None
    with httpx.Client(base_url=stack.mlflow.url, timeout=30) as http:

        def call(method: str, path: str, **kwargs: object) -> dict:
            response = http.request(method, API + path, **kwargs)
            assert response.status_code == 200, response.text
            return response.json()

        experiment_id = call("POST", "/experiments/create", json={"name": "stack_rest"})[
            "experiment_id"
        ]
        now = int(time.time() * 1000)
        run = call("POST", "/runs/create", json={"experiment_id": experiment_id, "start_time": now})
        run_id = run["run"]["info"]["run_id"]
        artifact_uri = run["run"]["info"]["artifact_uri"]
        assert artifact_uri.startswith("mlflow-artifacts:/")
        call("POST", "/runs/log-parameter", json={"run_id": run_id, "key": "k", "value": "10"})
        call(
            "POST",
            "/runs/log-metric",
            json={"run_id": run_id, "key": "ndcg_at_10", "value": 0.25, "timestamp": now},
        )
        # Artifacts go through the server (--serve-artifacts) into its artifacts folder.
        relative = artifact_uri.removeprefix("mlflow-artifacts:/").strip("/")
        upload = http.put(
            f"/api/2.0/mlflow-artifacts/artifacts/{relative}/model/MLmodel",
            content=b"flavors: {}\n",
        )
        assert upload.status_code == 200, upload.text
        assert (stack.mlflow.artifacts_dir / relative / "model" / "MLmodel").is_file()
        call(
            "POST",
            "/runs/update",
            json={"run_id": run_id, "status": "FINISHED", "end_time": now + 1},
        )

        call("POST", "/registered-models/create", json={"name": "stack_model"})
        version = call(
            "POST",
            "/model-versions/create",
            json={"name": "stack_model", "source": f"{artifact_uri}/model", "run_id": run_id},
        )["model_version"]["version"]
        call(
            "POST",
            "/registered-models/alias",
            json={"name": "stack_model", "alias": "champion", "version": version},
        )
        by_alias = call(
            "GET", "/registered-models/alias", params={"name": "stack_model", "alias": "champion"}
        )
        assert by_alias["model_version"]["version"] == version
        assert by_alias["model_version"]["run_id"] == run_id

    # It all lives in PostgreSQL, in MLflow's own database.
    db = stack.mlflow_db_url()
    assert sql(db, "select value from metrics where run_uuid = %s", run_id) == [(0.25,)]
    assert sql(
        db, "select version from registered_model_aliases where name = %s", "stack_model"
    ) == [(int(version),)]


def test_mlflow_rejects_a_foreign_host_header(stack: LocalStack) -> None:
    assert stack.mlflow is not None
    url = f"{stack.mlflow.url}{API}/experiments/search"
    params = {"max_results": 1}
    assert httpx.get(url, params=params).status_code == 200
    for host in ("evil.example.com", "mlflow.attacker.test:5000", f"10.0.0.1:{stack.mlflow.port}"):
        response = httpx.get(url, params=params, headers={"Host": host})
        assert response.status_code == 403, host
    # Health stays open to any Host so that container healthchecks work.
    assert httpx.get(f"{stack.mlflow.url}/health", headers={"Host": "x"}).status_code == 200


def test_stack_stops_every_process_it_started() -> None:
    require_servers()  # its own stack, not the session's fixture, so it asks for itself
    with local_stack() as other:
        pids = stack_pids(other)
        assert other.redis.ping()
        assert httpx.get(f"{other.mlflow.url}/health").status_code == 200
    assert_stopped(other, pids)
