"""Run real Airflow 3 on one machine: api-server, scheduler and dag-processor on 127.0.0.1.

``start(settings)`` prepares an Airflow home below ``settings.home / "airflow"`` (metadata DB in
SQLite, LocalExecutor, the repository's ``dags/`` folder, a one-slot pool for the DuckDB
warehouse), starts the three processes each in its own session (``setsid``), waits until the
API reports them healthy and prints the UI address and the admin credentials. ``stop(settings)``
ends every process of those sessions, TERM first and KILL after a deadline, so nothing is left
behind (``airflow standalone`` leaves orphans that ignore SIGTERM, hence separate processes).

``start(settings, celery=CeleryConfig(...))`` runs the production executor instead: the
CeleryExecutor with its metadata on PostgreSQL (Airflow refuses SQLite with it), a Redis broker,
the Celery result backend in PostgreSQL and ``workers`` processes of ``airflow celery worker``
(each ``concurrency`` task slots), which ``start`` waits for until they answer a ping.

Command line::

    python -m devtools.airflow_local run     # start, wait for Ctrl-C, stop
    python -m devtools.airflow_local start   # start in the background and return (`make airflow`)
    python -m devtools.airflow_local start --executor celery   # `make airflow-celery`
    python -m devtools.airflow_local stop    # stop what `start` left running
    python -m devtools.airflow_local status

With ``--executor celery`` the command line also starts a throwaway PostgreSQL and Redis
(``devtools.stack``) and ``stop`` stops them. The port comes from ``MERCATO_AIRFLOW_PORT``
(default 8080).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mercato.names import DUCKDB_POOL
from mercato.settings import REPO_ROOT, TELEMETRY_OFF, Settings, get_settings
from serving.processes import free_port, session_pids, signal_group

if TYPE_CHECKING:
    from devtools.stack import LocalStack

ADMIN_USER = "admin"
COMPONENTS = ("api-server", "scheduler", "dag-processor")
DEFAULT_PORT = 8080
HOST = "127.0.0.1"
#: The Celery queue every task goes to unless it names another (``[operators] default_queue``).
CELERY_QUEUE = "default"
#: Redelivery after this long unacknowledged: above the longest ``execution_timeout`` (30 min),
#: or Redis would hand a long task to a second worker while the first still runs it.
CELERY_VISIBILITY_TIMEOUT = 7200


@dataclass(frozen=True)
class CeleryConfig:
    """Where the CeleryExecutor's parts live and how many workers run the tasks.

    ``sql_alchemy_conn`` is Airflow's metadata DB (PostgreSQL), ``broker_url`` a ``redis://`` URL
    and ``result_backend`` Celery's ``db+postgresql://`` URL. ``workers`` processes of
    ``airflow celery worker`` are started, each running ``concurrency`` tasks at a time.
    """

    sql_alchemy_conn: str
    broker_url: str
    result_backend: str
    workers: int = 2
    concurrency: int = 1
    queue: str = CELERY_QUEUE
    #: Where Celery Flower serves its UI on 127.0.0.1 (basic auth); None starts no Flower.
    flower_port: int | None = None

    def worker_names(self) -> list[str]:
        """The component names of the workers, which are also their Celery node names' prefix."""
        return [f"celery-worker-{i}" for i in range(1, self.workers + 1)]


@dataclass
class AirflowInfo:
    """What a started Airflow looks like from outside: where it listens and who may log in."""

    url: str
    username: str
    password: str
    airflow_home: str
    processes: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Celery Flower's address and its basic-auth password (user ``ADMIN_USER``), when started.
    flower_url: str | None = None
    flower_password: str | None = None


def airflow_home(settings: Settings) -> Path:
    return settings.home / "airflow"


def celery_on_stack(stack: LocalStack, workers: int = 2, concurrency: int = 1) -> CeleryConfig:
    """The CeleryExecutor on a ``devtools.stack`` stack: metadata and results in its ``airflow``
    database, the broker in Redis database 1 (Feast's online store keeps database 0)."""
    return CeleryConfig(
        sql_alchemy_conn=stack.airflow_db_url(),
        broker_url=stack.redis.url.rsplit("/", 1)[0] + "/1",
        result_backend="db+" + stack.airflow_db_url(),
        workers=workers,
        concurrency=concurrency,
    )


def _celery_stack_file(settings: Settings) -> Path:
    """Where the command line records the PostgreSQL + Redis it started for the CeleryExecutor."""
    return airflow_home(settings) / "celery_stack.json"


def port_from_env() -> int:
    """``settings.airflow_port`` (env ``MERCATO_AIRFLOW_PORT``, default 8080)."""
    return get_settings().airflow_port


def _state_file(settings: Settings) -> Path:
    return airflow_home(settings) / "processes.json"


def _jwt_secret(home: Path) -> str:
    """A long random secret for the API's tokens, made once and kept (owner-only) in the home."""
    return _kept_secret(home / "jwt_secret", 64)


def _kept_secret(path: Path, size: int) -> str:
    """A random secret made once and kept (owner-only) at ``path``."""
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(size))
    return path.read_text().strip()


def airflow_env(
    settings: Settings, port: int | None = None, celery: CeleryConfig | None = None
) -> dict[str, str]:
    """The environment every Airflow process of this home runs with (built on ``os.environ``).

    LocalExecutor on SQLite by default; with ``celery``, the CeleryExecutor on its PostgreSQL.
    """
    home = airflow_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    port = port or port_from_env()
    base_url = f"http://{HOST}:{port}"
    env = {**TELEMETRY_OFF, **os.environ}  # telemetry off unless the caller said otherwise
    # every task process reads the same settings (mercato.settings.get_settings())
    env.update(settings.to_env())
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base_url}/execution/",
            "AIRFLOW__API__HOST": HOST,
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": _jwt_secret(home),
            "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos_cache"),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            # The scheduler serves task logs on 8793 by default: take a free port instead.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if celery is not None:
        env.update(
            {
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": celery.sql_alchemy_conn,
                "AIRFLOW__CELERY__BROKER_URL": celery.broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": celery.result_backend,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(celery.concurrency),
                # Results keep the worker's node name, so a run shows which worker ran what.
                "AIRFLOW__CELERY__EXTRA_CELERY_CONFIG": '{"result_extended": true}',
                "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": str(
                    CELERY_VISIBILITY_TIMEOUT
                ),
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": celery.queue,
            }
        )
    return env


def celery_worker_command(celery: CeleryConfig, name: str) -> list[str]:
    """``airflow celery worker`` arguments of one worker: its node name, slots and queue."""
    return [
        "celery",
        "worker",
        "--celery-hostname",
        f"{name}@%h",
        "--concurrency",
        str(celery.concurrency),
        "--queues",
        celery.queue,
    ]


def _airflow_bin() -> str:
    """The ``airflow`` entry point of this interpreter's environment."""
    candidate = Path(sys.executable).parent / "airflow"
    return str(candidate) if candidate.exists() else (shutil.which("airflow") or "airflow")


def _run(args: list[str], env: dict[str, str], timeout: float = 300) -> None:
    done = subprocess.run(
        [_airflow_bin(), *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def prepare(
    settings: Settings, port: int | None = None, celery: CeleryConfig | None = None
) -> dict[str, str]:
    """Migrate the metadata DB and create the DuckDB pool; returns the Airflow environment."""
    settings.ensure_dirs()
    env = airflow_env(settings, port, celery)
    _run(["db", "migrate"], env)
    _run(["pools", "set", DUCKDB_POOL, "1", "One slot: one writer of the DuckDB warehouse"], env)
    return env


def start(
    settings: Settings | None = None,
    port: int | None = None,
    timeout: float = 180,
    quiet: bool = False,
    celery: CeleryConfig | None = None,
) -> AirflowInfo:
    """Start api-server, scheduler and dag-processor; return once the API says they are healthy.

    With ``celery``, the CeleryExecutor and its workers too, and return once every worker
    answers a ping through the broker. Prints the UI address and the admin credentials unless
    ``quiet``.
    """
    settings = settings or get_settings()
    port = port or port_from_env()
    if _state_file(settings).exists():
        if any(session_pids(int(p["pgid"])) for p in _read_state(settings).values()):
            raise RuntimeError(
                f"Airflow already runs for {settings.home}; stop it first (python -m "
                "devtools.airflow_local stop)"
            )
        _state_file(settings).unlink()
    env = prepare(settings, port, celery)
    home = airflow_home(settings)
    (home / "logs").mkdir(parents=True, exist_ok=True)
    commands: dict[str, tuple[list[str], dict[str, str]]] = {c: ([c], env) for c in COMPONENTS}
    for name in celery.worker_names() if celery else []:
        # Each worker serves its task logs on a port of its own (8793 for all would clash).
        worker_env = {**env, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
        commands[name] = (celery_worker_command(celery, name), worker_env)
    flower_password = None
    if celery is not None and celery.flower_port:
        flower_password = _kept_secret(home / "flower_password", 24)
        flower_env = {
            **env,
            "AIRFLOW__CELERY__FLOWER_HOST": HOST,
            "AIRFLOW__CELERY__FLOWER_PORT": str(celery.flower_port),
            "AIRFLOW__CELERY__FLOWER_BASIC_AUTH": f"{ADMIN_USER}:{flower_password}",
        }
        commands["flower"] = (["celery", "flower"], flower_env)
    processes: dict[str, dict[str, int]] = {}
    try:
        for component, (args, component_env) in commands.items():
            log = open(home / "logs" / f"{component}.log", "ab")  # noqa: SIM115 (kept by child)
            proc = subprocess.Popen(
                [_airflow_bin(), *args],
                env=component_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # setsid: its own session and process group
                cwd=home,
            )
            log.close()
            processes[component] = {"pid": proc.pid, "pgid": os.getpgid(proc.pid)}
            _CHILDREN[proc.pid] = proc
            _write_state(settings, processes)
        url = f"http://{HOST}:{port}"
        _wait_healthy(url, processes, home, timeout)
        if celery is not None:
            _wait_celery_workers(celery, processes, home, timeout)
        flower_url = f"http://{HOST}:{celery.flower_port}" if flower_password else None
        if flower_url:
            _wait_flower(flower_url, processes, home, timeout)
        password = _admin_password(env, timeout=30)
    except BaseException:
        stop(settings)
        raise
    info = AirflowInfo(
        url=url,
        username=ADMIN_USER,
        password=password,
        airflow_home=str(home),
        processes=processes,
        flower_url=flower_url,
        flower_password=flower_password,
    )
    if not quiet:
        print_info(info)
    return info


def stop(settings: Settings | None = None, deadline: float = 30) -> list[int]:
    """Stop every process started by ``start`` for this home: TERM, then KILL after ``deadline``.

    Each component runs in its own session, so every process it spawned (executor workers, task
    processes in their own process groups, API workers) is found by session id even after its
    parent died. Returns the ids of the processes that had to be killed with SIGKILL.
    """
    settings = settings or get_settings()
    if not _state_file(settings).exists():
        _stop_celery_stack(settings)
        return []
    sessions = [int(p["pgid"]) for p in _read_state(settings).values()]
    for sid in sessions:
        _signal_session(sid, signal.SIGTERM)
    end = time.monotonic() + deadline
    while time.monotonic() < end and any(session_pids(sid) for sid in sessions):
        _reap_children()
        time.sleep(0.2)
    killed = [pid for sid in sessions for pid in session_pids(sid)]
    for sid in sessions:
        _signal_session(sid, signal.SIGKILL)
    end = time.monotonic() + 10
    while time.monotonic() < end and any(session_pids(sid) for sid in sessions):
        _reap_children()
        time.sleep(0.1)
    _reap_children()
    _state_file(settings).unlink(missing_ok=True)
    _stop_celery_stack(settings)
    return killed


def _stop_celery_stack(settings: Settings) -> None:
    """Stop the PostgreSQL and Redis that ``main`` started for ``--executor celery``, if any."""
    record = _celery_stack_file(settings)
    if record.exists():
        from devtools.stack import down

        base_dir = Path(json.loads(record.read_text())["base_dir"])
        down(base_dir)
        shutil.rmtree(base_dir, ignore_errors=True)  # throwaway: made for this Airflow only
        record.unlink()


def status(settings: Settings | None = None) -> dict[str, Any]:
    """The recorded components and how many live processes each session still has."""
    settings = settings or get_settings()
    if not _state_file(settings).exists():
        return {}
    return {
        name: {**proc, "live_processes": len(session_pids(int(proc["pgid"])))}
        for name, proc in _read_state(settings).items()
    }


# -- helpers -------------------------------------------------------------------------------------
#: Popen objects of the components this process started, so that ``stop`` can reap them.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _reap_children() -> None:
    for pid, proc in list(_CHILDREN.items()):
        if proc.poll() is not None:
            del _CHILDREN[pid]


def _write_state(settings: Settings, processes: dict[str, dict[str, int]]) -> None:
    _state_file(settings).write_text(json.dumps(processes, indent=2))


def _read_state(settings: Settings) -> dict[str, dict[str, int]]:
    return json.loads(_state_file(settings).read_text())


def _signal_session(sid: int, sig: signal.Signals) -> None:
    """Signal the session's leader group, and any process of the session in another group.

    Task processes run in process groups of their own (Airflow's supervisor puts them there),
    and a process whose parent died is still in the session, so both are found by session id.
    """
    signal_group(sid, sig)
    for pid in session_pids(sid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) != sid:
                os.kill(pid, sig)


def _wait_healthy(
    url: str, processes: dict[str, dict[str, int]], home: Path, timeout: float
) -> None:
    """Poll the health endpoint until the DB, scheduler and dag-processor are healthy."""
    import httpx

    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        _raise_if_exited(processes, home)
        try:
            last = httpx.get(f"{url}/api/v2/monitor/health", timeout=5).json()
            if all(
                (last.get(part) or {}).get("status") == "healthy"
                for part in ("metadatabase", "scheduler", "dag_processor")
            ):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(1)
    raise TimeoutError(f"Airflow at {url} not healthy after {timeout:.0f} s; last answer: {last}")


def celery_ping(broker_url: str, timeout: float = 2) -> list[str]:
    """Node names of the Celery workers that answer a ping through the broker."""
    from celery import Celery

    app = Celery(broker=broker_url)
    try:
        return sorted(name for answer in app.control.ping(timeout=timeout) for name in answer)
    finally:
        app.close()


def _wait_celery_workers(
    celery: CeleryConfig, processes: dict[str, dict[str, int]], home: Path, timeout: float
) -> None:
    """Wait until every worker answers a ping; fail with its log if one exits first."""
    expected = set(celery.worker_names())
    end = time.monotonic() + timeout
    answered: set[str] = set()
    while time.monotonic() < end:
        _raise_if_exited(processes, home)
        answered = {node.split("@")[0] for node in celery_ping(celery.broker_url)}
        if expected <= answered:
            return
        time.sleep(1)
    raise TimeoutError(
        f"Celery workers {sorted(expected - answered)} did not answer within {timeout:.0f} s"
    )


def _wait_flower(
    url: str, processes: dict[str, dict[str, int]], home: Path, timeout: float
) -> None:
    """Wait until Flower's health check (open; everything else asks for basic auth) says OK."""
    import httpx

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        _raise_if_exited(processes, home)
        try:
            if httpx.get(f"{url}/healthcheck", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"Flower at {url} not healthy after {timeout:.0f} s")


def _raise_if_exited(processes: dict[str, dict[str, int]], home: Path) -> None:
    for name, proc in processes.items():
        child = _CHILDREN.get(proc["pid"])
        if child is not None and child.poll() is not None:
            log_tail = (home / "logs" / f"{name}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"airflow {name} exited with {child.returncode}:\n{log_tail}")


def _admin_password(env: dict[str, str], timeout: float) -> str:
    """The admin password the api-server generated (SimpleAuthManager keeps it in a file)."""
    path = Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            return json.loads(path.read_text())[ADMIN_USER]
        except (FileNotFoundError, ValueError, KeyError):
            time.sleep(0.5)
    raise TimeoutError(f"no admin password in {path}")


def print_info(info: AirflowInfo) -> None:
    """Tell the user where the UI is and how to log in."""
    print(
        f"\nAirflow is up: {info.url}\n"
        f"  user:     {info.username}\n"
        f"  password: {info.password}\n"
        f"  home:     {info.airflow_home} (logs in logs/)\n"
        + (
            f"Flower (Celery workers): {info.flower_url} (user {info.username}, password "
            f"{info.flower_password})\n"
            if info.flower_url
            else ""
        )
        + "New DAGs start paused: unpause mercato_pipeline (or the stage DAGs) in the UI.\n"
        "Stop everything with `make airflow-stop` (python -m devtools.airflow_local stop).\n",
        flush=True,
    )


def _start_celery_stack(settings: Settings, args: argparse.Namespace) -> CeleryConfig:
    """Start PostgreSQL and Redis for the CeleryExecutor and record them for ``stop``."""
    from devtools.servers import missing_message, path_entries
    from devtools.stack import start_stack, write_state

    missing = missing_message()
    if missing:
        raise SystemExit(f"--executor celery needs PostgreSQL and Redis: {missing}")
    # Servers found outside PATH (Debian's folders, PyPI packages) first, as the tests do.
    os.environ["PATH"] = os.pathsep.join([*path_entries(), os.environ.get("PATH", "")])
    stack = start_stack(with_mlflow=False)
    write_state(stack)
    airflow_home(settings).mkdir(parents=True, exist_ok=True)
    _celery_stack_file(settings).write_text(json.dumps({"base_dir": str(stack.base_dir)}))
    celery = celery_on_stack(stack, workers=args.workers, concurrency=args.concurrency)
    return dataclasses.replace(celery, flower_port=args.flower_port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.airflow_local",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "command", choices=("run", "start", "stop", "status"), nargs="?", default="run"
    )
    parser.add_argument(
        "--port", type=int, default=None, help="API/UI port (env MERCATO_AIRFLOW_PORT)"
    )
    parser.add_argument(
        "--executor",
        choices=("local", "celery"),
        default="local",
        help="celery: CeleryExecutor on a throwaway PostgreSQL + Redis (docs/celery.md)",
    )
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (--executor celery)")
    parser.add_argument("--concurrency", type=int, default=1, help="task slots per Celery worker")
    parser.add_argument(
        "--flower-port", type=int, default=5555, help="Celery Flower's port (--executor celery)"
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    if args.command == "stop":
        killed = stop(settings)
        print("Airflow stopped" + (f" (killed {len(killed)} stuck processes)" if killed else ""))
        return 0
    if args.command == "status":
        print(json.dumps(status(settings), indent=2))
        return 0
    if args.executor == "celery" and _celery_stack_file(settings).exists():
        parser.error(
            "a Celery stack is still recorded: run `python -m devtools.airflow_local stop`"
        )
    try:
        celery = _start_celery_stack(settings, args) if args.executor == "celery" else None
        info = start(settings, port=args.port, celery=celery)
    except BaseException:
        _stop_celery_stack(settings)
        raise
    if args.command == "start":
        print(json.dumps(asdict(info)["processes"], indent=2))
        return 0

    def _on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _on_term)
    try:
        print("Press Ctrl-C to stop.", flush=True)
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        print("Stopping Airflow ...", flush=True)
        stop(settings)
        print("Airflow stopped.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
