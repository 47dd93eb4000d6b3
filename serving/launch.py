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

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from mercato.settings import REPO_ROOT, TELEMETRY_OFF, Settings, apply_runtime_env

SERVICE = "serving.service:Mercato"

#: Lines in the server log that mean the service cannot start (it would restart for ever).
FAILURE_MARKERS = (
    "Initializing service error",
    "Application startup failed",
    "Error loading ASGI app",
    "Address already in use",
)


class ServiceStartError(RuntimeError):
    """The service did not become ready; the message carries the end of its log."""


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


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class ServiceProcess:
    """A background server (``bentoml serve``, or any ``start_process``); stop it with ``stop()``
    or use it as a context manager."""

    process: subprocess.Popen
    host: str
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        """Stop the server and its workers; returns the arbiter's exit code.

        SIGTERM lets BentoML's arbiter stop its workers gracefully. The workers run in sessions
        of their own, so any that outlive ``timeout`` are killed one by one, by pid.
        """
        tree = self._tree()
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if tree:
            import psutil

            _, alive = psutil.wait_procs(tree, timeout=3)
            for proc in alive:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
        return self.process.returncode

    def _tree(self) -> list:
        """The server's child processes (workers), as ``psutil.Process`` objects."""
        import psutil

        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            return []

    def __enter__(self) -> ServiceProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # the server leads its own session, so its process group id is its pid
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _first_error(log: str) -> str:
    """The first ``SomeError: message`` line of a traceback in ``log``, or ""."""
    match = re.search(r"^(\w+(?:\.\w+)*(?:Error|Exception): .+)$", log, re.MULTILINE)
    return match.group(1).strip() if match else ""


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
    import httpx

    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = ServiceProcess(process, host, port, log_path)
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            if not server.running():
                raise ServiceStartError(
                    f"{name} exited with code {process.returncode} before it was ready; "
                    f"log {log_path}:\n{server.log_tail()}"
                )
            text = server.log_text()
            failure = next((m for m in FAILURE_MARKERS if m in text), None)
            if failure:
                server.stop()
                raise ServiceStartError(
                    f"{name} failed to start: {_first_error(text) or failure} "
                    f"(stopped, not retried for ever); log {log_path}:\n{server.log_tail()}"
                )
            try:
                if client.get(f"{server.url}/readyz").status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                server.stop()
                raise ServiceStartError(
                    f"{name} was not ready after {timeout:.0f} s; log {log_path}:\n"
                    f"{server.log_tail()}"
                )
            time.sleep(0.25)
