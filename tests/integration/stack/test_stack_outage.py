"""MLflow outage: a training call fails within its timeout with a clear message, never hangs.

The client settings are ``mercato.settings.MLFLOW_CLIENT_ENV`` (the values docker-compose.yml
gives the Airflow and BentoML containers), which ``apply_runtime_env`` puts in every process of
ours: the child running the calls gets them from there alone. Two outages: the server is stopped
(connection refused) and the server is frozen (SIGSTOP: the kernel still accepts connections,
nothing ever answers, which is what a hung server or a dead network path looks like).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from devtools.stack import LocalStack, MlflowServer
from mercato.settings import MLFLOW_CLIENT_ENV
from serving.processes import group_alive, signal_group

# What training does first: apply the runtime environment (the MLflow client limits among it),
# pick its experiment, open a run, log to it.
TRAINING_CALLS = """
from mercato.settings import apply_runtime_env, get_settings
apply_runtime_env(get_settings())
import mlflow
mlflow.set_experiment("mercato_outage")
with mlflow.start_run():
    mlflow.log_metric("auc", 0.5)
print("LOGGED")
"""
#: Far above the ~35 s the client settings allow for a frozen server; only a hang reaches it.
HANG_LIMIT_S = 150


@pytest.fixture
def mlflow_server(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A second MLflow server on the stack's database, which this test may break."""
    base = tmp_path_factory.mktemp("mlflow_outage")
    server = MlflowServer(base, stack.mlflow_db_url()).start()
    try:
        yield server
    finally:
        pgid = server.process.pid
        signal_group(pgid, signal.SIGCONT)  # a frozen server must run again to handle SIGTERM
        server.stop()
        assert not group_alive(pgid)


def run_training_calls(tracking_uri: str) -> subprocess.CompletedProcess:
    """Run the calls in a child whose client limits come from ``apply_runtime_env`` alone."""
    inherited = {*MLFLOW_CLIENT_ENV, "MLFLOW_TRACKING_URI"}
    env = {key: value for key, value in os.environ.items() if key not in inherited}
    env["MERCATO_MLFLOW_TRACKING_URI"] = tracking_uri
    return subprocess.run(
        [sys.executable, "-c", TRAINING_CALLS],
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_LIMIT_S,
    )


def test_training_calls_work_while_the_server_is_up(mlflow_server: MlflowServer) -> None:
    result = run_training_calls(mlflow_server.url)
    assert result.returncode == 0, result.stderr
    assert "LOGGED" in result.stdout


def test_stopped_server_fails_fast_and_clearly(mlflow_server: MlflowServer) -> None:
    url = mlflow_server.url
    mlflow_server.stop()
    result = run_training_calls(url)
    assert result.returncode != 0
    assert "LOGGED" not in result.stdout
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("mlflow.exceptions.MlflowException: API request to " + url)
    assert "Connection refused" in last_line


def test_frozen_server_fails_within_the_timeout(mlflow_server: MlflowServer) -> None:
    os.killpg(mlflow_server.process.pid, signal.SIGSTOP)
    result = run_training_calls(mlflow_server.url)  # TimeoutExpired here means: it hung
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("mlflow.exceptions.MlflowException: API request to ")
    assert f"read timeout={MLFLOW_CLIENT_ENV['MLFLOW_HTTP_REQUEST_TIMEOUT']}" in last_line
