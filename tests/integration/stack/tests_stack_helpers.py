"""Assertions shared by the stack tests (conftest modules cannot be imported by name)."""

from __future__ import annotations

from devtools.stack import LocalStack, port_open
from serving.processes import group_alive, pid_alive


def assert_stopped(stack: LocalStack, pids: dict[str, int]) -> None:
    """No process of the stack is alive and none of its ports accepts connections."""
    assert not pid_alive(pids["postgres"]), "postgres still running"
    assert not pid_alive(pids["redis"]), "redis still running"
    if "mlflow" in pids:
        assert not group_alive(pids["mlflow"]), "mlflow server (or a worker) still running"
    ports = [stack.postgres.port, stack.redis.port] + ([stack.mlflow.port] if stack.mlflow else [])
    assert not any(port_open(port) for port in ports), "a stack port still accepts connections"


def stack_pids(stack: LocalStack) -> dict[str, int]:
    pids = {"postgres": stack.postgres.pid, "redis": stack.redis.pid}
    if stack.mlflow is not None and stack.mlflow.process is not None:
        pids["mlflow"] = stack.mlflow.process.pid
    assert all(pids.values()), pids
    return pids
