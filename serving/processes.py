"""Child processes in sessions of their own: free ports, liveness, start-and-wait, stop by group.

Every long-running helper process (the BentoML server, MLflow's server, Airflow's components,
the test servers) is started with ``start_new_session=True``: it leads a session and a process
group whose id is its pid, so everything it spawns in that group is found and stopped together,
and nothing outlives ``stop_group``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType


class ServerStartError(RuntimeError):
    """A server did not become ready; the message carries the end of its log."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# -- liveness ----------------------------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists (zombies of our own children count as gone)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # exists, belongs to someone else
        return True


def _live_pids(member_of: Callable[[int], int], wanted: int) -> list[int]:
    import psutil

    pids = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if member_of(proc.info["pid"]) == wanted:
                pids.append(proc.info["pid"])
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return pids


def group_pids(pgid: int) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid``."""
    return _live_pids(os.getpgid, pgid)


def session_pids(sid: int) -> list[int]:
    """Live (non-zombie) processes of session ``sid``, whatever process group they are in."""
    return _live_pids(os.getsid, sid)


def group_alive(pgid: int) -> bool:
    """True when any live (non-zombie) process is left in process group ``pgid``."""
    return bool(group_pids(pgid))


# -- stopping ----------------------------------------------------------------------------------


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to process group ``pgid``; a group that is gone already is no error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_until(done: Callable[[], bool], timeout: float, process: subprocess.Popen | None) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() >= deadline:
            return False
        if process is not None:  # reap our child meanwhile, so it does not linger as a zombie
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.2)
        else:
            time.sleep(0.2)
    return True


def stop_group(
    pgid: int,
    timeout: float = 30.0,
    *,
    process: subprocess.Popen | None = None,
    kill_timeout: float = 10.0,
) -> bool:
    """SIGTERM process group ``pgid``, SIGKILL whatever is left after ``timeout`` seconds.

    ``process`` is the group leader's ``Popen`` when it is our child: it is reaped too. Returns
    True when no live process is left in the group (after at most ``timeout + kill_timeout``).
    """
    signal_group(pgid, signal.SIGTERM)
    if not _wait_until(lambda: not group_alive(pgid), timeout, process):
        signal_group(pgid, signal.SIGKILL)
        _wait_until(lambda: not group_alive(pgid), kill_timeout, process)
    if process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=kill_timeout)
    return not group_alive(pgid)


# -- servers -----------------------------------------------------------------------------------


@dataclass
class ServerProcess:
    """A background HTTP server started by ``start_server``; stop it with ``stop()`` or use it
    as a context manager."""

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
        """Stop the server's process group and its children; returns the server's exit code.

        SIGTERM to the group first (``stop_group``). Children that run in sessions of their own
        (BentoML's workers) are not in the group: any that outlive the server are killed one by
        one, by pid.
        """
        tree = self._tree()
        stop_group(self.process.pid, timeout, process=self.process, kill_timeout=5)
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

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def first_error(log: str) -> str:
    """The first ``SomeError: message`` line of a traceback in ``log``, or ""."""
    match = re.search(r"^(\w+(?:\.\w+)*(?:Error|Exception): .+)$", log, re.MULTILINE)
    return match.group(1).strip() if match else ""


def start_server(
    args: list[str],
    env: Mapping[str, str],
    host: str,
    port: int,
    log_path: Path,
    *,
    ready_path: str = "/readyz",
    failure_markers: Iterable[str] = (),
    timeout: float = 180.0,
    name: str = "the server",
    cwd: Path | str | None = None,
    append_log: bool = False,
    poll_interval: float = 0.25,
) -> ServerProcess:
    """Start an HTTP server in its own session, its output in ``log_path``, and wait until
    ``GET ready_path`` answers 200.

    Raises ``ServerStartError`` with the log's tail when the process exits, when a line of
    ``failure_markers`` shows up in its log (a server that restarts a failing worker for ever
    keeps its port open) or when ``timeout`` seconds pass; the server is stopped first.
    """
    import httpx

    markers = tuple(failure_markers)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab" if append_log else "wb") as log:
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = ServerProcess(process, host, port, log_path)
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while True:
            if not server.running():
                server.stop()  # whatever it spawned in its group goes too
                raise ServerStartError(
                    f"{name} exited with code {process.returncode} before it was ready; "
                    f"log {log_path}:\n{server.log_tail()}"
                )
            text = server.log_text() if markers else ""
            failure = next((m for m in markers if m in text), None)
            if failure:
                server.stop()
                raise ServerStartError(
                    f"{name} failed to start: {first_error(text) or failure} "
                    f"(stopped, not retried for ever); log {log_path}:\n{server.log_tail()}"
                )
            try:
                if client.get(f"{server.url}{ready_path}").status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                server.stop()
                raise ServerStartError(
                    f"{name} was not ready after {timeout:.0f} s; log {log_path}:\n"
                    f"{server.log_tail()}"
                )
            time.sleep(poll_interval)
