"""Start the service: in the foreground (``mercato serve``) or in the background (tests, demo).

Both run ``bentoml serve serving.service:Mercato`` from the checkout with telemetry off, on
127.0.0.1 by default, and hand the settings to the server through the environment (the server
process reads them with ``mercato.settings.get_settings()``).

Background starts wait for ``/readyz`` under a deadline while reading the server's log. That
matters because when the service's ``__init__`` raises, BentoML restarts the worker every few
seconds for ever while the port keeps accepting connections: a plain "is the port open" check
would hang. The log shows the failure, so the start fails at once with the log's excerpt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from mercato.settings import REPO_ROOT, TELEMETRY_OFF, Settings, apply_runtime_env
from serving.processes import ServerProcess, ServerStartError, start_server
from serving.processes import free_port as free_port  # re-exported: tests and bench use it

SERVICE = "serving.service:Mercato"

#: Lines in the server log that mean the service cannot start (it would restart for ever).
FAILURE_MARKERS = (
    "Initializing service error",
    "Application startup failed",
    "Error loading ASGI app",
    "Address already in use",
)


class ServiceStartError(ServerStartError):
    """The service did not become ready; the message carries the end of its log."""


#: A background server started by ``start_process``, stopped with ``stop()`` (workers included).
ServiceProcess = ServerProcess


def server_env(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The server's whole environment: ours, telemetry off, settings, BentoML's home below ours."""
    apply_runtime_env(settings)
    env = dict(os.environ)
    env.update(TELEMETRY_OFF)
    env.update(settings.to_env())
    env.setdefault("BENTOML_HOME", str(settings.home / "bentoml"))
    env.update(extra or {})
    return env


def command(settings: Settings, host: str | None = None, port: int | None = None) -> list[str]:
    """The ``bentoml serve`` command line."""
    return [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        SERVICE,
        "--host",
        host or settings.serve_host,
        "--port",
        str(port or settings.serve_port),
    ]


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> int:
    """Run the service in the foreground until it stops, Ctrl-C or SIGTERM; returns the exit code.

    SIGTERM (from a supervisor or ``timeout``) is passed on to ``bentoml serve``, whose arbiter
    then stops its workers, so nothing is left behind.
    """
    proc = subprocess.Popen(command(settings, host, port), cwd=REPO_ROOT, env=server_env(settings))

    def forward(signum: int, _frame: object) -> None:
        proc.send_signal(signum)

    try:
        previous = signal.signal(signal.SIGTERM, forward)
    except ValueError:  # not the main thread: leave signals alone
        previous = None
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def start_background(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    *,
    timeout: float = 180.0,
    log_path: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> ServiceProcess:
    """Start ``bentoml serve`` in its own process group and wait until ``/readyz`` answers 200.

    Raises ``ServiceStartError`` (after stopping the server) when the process exits, when its
    log shows that the service failed to start, or when ``timeout`` seconds pass.
    """
    host = host or settings.serve_host
    port = port or settings.serve_port
    if log_path is None:
        log_path = settings.home / "serving" / f"bentoml-{port}.log"
    return start_process(
        command(settings, host, port),
        server_env(settings, extra_env),
        host,
        port,
        log_path,
        timeout=timeout,
        name="bentoml serve",
    )


def start_process(
    args: list[str],
    env: dict[str, str],
    host: str,
    port: int,
    log_path: Path,
    *,
    timeout: float = 180.0,
    name: str = "the server",
) -> ServiceProcess:
    """Start an HTTP server in its own process group, its output in ``log_path``, and wait until
    ``GET /readyz`` answers 200 (see ``start_background`` for the errors raised)."""
    try:
        return start_server(
            args,
            env,
            host,
            port,
            log_path,
            ready_path="/readyz",
            failure_markers=FAILURE_MARKERS,
            timeout=timeout,
            name=name,
            cwd=REPO_ROOT,
        )
    except ServerStartError as exc:
        raise ServiceStartError(str(exc)) from exc


def answering_workers(
    url: str, count: int, *, timeout: float = 180.0, api_key: str = ""
) -> dict[int, dict]:
    """Wait until ``count`` different workers have answered ``/model_info``; their answers by pid.

    ``/readyz`` is 200 as soon as one worker is up, while the others may still be loading
    their champions. Each call goes over a new connection, so the kernel hands it to whichever
    worker accepts first. Raises ``ServiceStartError`` naming the workers seen after ``timeout``.
    """
    import time

    import httpx

    headers = {"Connection": "close", **({"X-API-Key": api_key} if api_key else {})}
    seen: dict[int, dict] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        if time.monotonic() > deadline:
            raise ServiceStartError(
                f"only {len(seen)} of {count} workers answered /model_info within "
                f"{timeout:.0f} s (pids {sorted(seen)})"
            )
        try:
            response = httpx.post(f"{url}/model_info", json={}, headers=headers, timeout=10)
        except httpx.HTTPError:  # a worker still starting may drop the connection
            time.sleep(0.2)
            continue
        if response.status_code == 200:
            body = response.json()
            seen[body["worker_pid"]] = body
        else:
            time.sleep(0.2)
    return seen
