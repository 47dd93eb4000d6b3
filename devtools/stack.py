"""Run the production services (PostgreSQL, Redis, an MLflow server) as local processes.

``docker-compose.yml`` runs these services in containers. Where no Docker engine runs (CI, a
laptop without Docker) the same configuration is started here as plain processes bound to
127.0.0.1 on free ports, so the stack integration tests and a user exercise the exact settings of
production: MLflow over HTTP with a PostgreSQL backend, Feast's online store on Redis and
Airflow's metadata on PostgreSQL. PostgreSQL's databases and users are created by the very script
the compose file mounts into the postgres container (``docker/postgres/init-databases.sh``).

Every process is started in its own session and stopped by process group, so nothing outlives
``stop()``. From a shell::

    python -m devtools.stack up --dir ~/.mercato-stack    # prints the environment to export
    python -m devtools.stack down --dir ~/.mercato-stack
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mercato.settings import MLFLOW_CLIENT_ENV, REPO_ROOT, TELEMETRY_OFF
from serving.processes import (
    ServerStartError,
    free_port,
    pid_alive,
    start_server,
    stop_group,
)

#: The script that creates Airflow's and MLflow's databases and users, in compose and here.
POSTGRES_INIT_SCRIPT = REPO_ROOT / "docker" / "postgres" / "init-databases.sh"


class StackError(RuntimeError):
    """A service of the local stack could not be started; the message holds its log tail."""


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _pg_bindir() -> Path:
    """The newest PostgreSQL server binaries (Debian keeps them outside PATH)."""
    candidates = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if Path(p, "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1]
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise StackError("PostgreSQL server not found: apt-get install -y postgresql")


# -- PostgreSQL --------------------------------------------------------------------------------


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1, reachable over TCP only, password auth."""

    base_dir: Path
    port: int = 0
    superuser_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    durable: bool = False

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "postgres.log"

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while the cluster runs."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            return None

    def _run_kwargs(self) -> dict:
        # PostgreSQL refuses to run as root: as root, run its tools as the `postgres` account.
        return {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}

    def _tool(self, name: str) -> str:
        return str(_pg_bindir() / name)

    def start(self) -> PostgresServer:
        """initdb (first time only) and start the server; returns once it accepts connections."""
        self.port = self.port or free_port()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        kwargs = self._run_kwargs()
        if kwargs:
            shutil.chown(self.base_dir, "postgres", "postgres")
        if not (self.data_dir / "PG_VERSION").exists():
            pwfile = self.base_dir / "superuser.pw"
            pwfile.write_text(self.superuser_password + "\n")
            pwfile.chmod(0o600)
            if kwargs:
                shutil.chown(pwfile, "postgres", "postgres")
            try:
                subprocess.run(
                    [
                        self._tool("initdb"),
                        "--pgdata",
                        str(self.data_dir),
                        "--username",
                        "postgres",
                        "--auth",
                        "scram-sha-256",
                        "--pwfile",
                        str(pwfile),
                        "--encoding",
                        "UTF8",
                        "--no-instructions",
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                    cwd=self.base_dir,
                    **kwargs,
                )
            except subprocess.CalledProcessError as exc:
                raise StackError(f"initdb failed:\n{exc.stdout}\n{exc.stderr}") from exc
            finally:
                pwfile.unlink(missing_ok=True)
        conf = [
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            "unix_socket_directories = ''",
            "max_connections = 100",
            "shared_buffers = 64MB",
        ]
        if not self.durable:
            conf += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        auto_conf = self.data_dir / "postgresql.auto.conf"
        auto_conf.write_text("\n".join(conf) + "\n")
        if kwargs:
            shutil.chown(auto_conf, "postgres", "postgres")
        result = subprocess.run(
            [
                self._tool("pg_ctl"),
                "start",
                "--pgdata",
                str(self.data_dir),
                "--log",
                str(self.log_path),
                "--wait",
                "--timeout",
                "60",
            ],
            capture_output=True,
            text=True,
            cwd=self.base_dir,
            start_new_session=True,
            **kwargs,
        )
        if result.returncode != 0:
            raise StackError(
                f"pg_ctl start failed ({result.returncode}):\n{result.stderr}\n"
                f"{_log_tail(self.log_path)}"
            )
        return self

    def stop(self) -> None:
        """Fast shutdown (aborts open transactions), then make sure the postmaster is gone."""
        pid = self.pid
        if pid is None:
            return
        subprocess.run(
            [self._tool("pg_ctl"), "stop", "--pgdata", str(self.data_dir), "-m", "fast", "--wait"],
            capture_output=True,
            text=True,
            cwd=self.base_dir,
            **self._run_kwargs(),
        )
        _wait_gone(pid, 30)

    def url(self, database: str, user: str, password: str, driver: str = "postgresql") -> str:
        """SQLAlchemy/libpq URL of one database, e.g. ``driver='postgresql+psycopg2'``."""
        return f"{driver}://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def run_init_script(self, env: Mapping[str, str]) -> None:
        """Run ``docker/postgres/init-databases.sh`` against this server, as the container does.

        ``env`` holds the variables the script reads (``AIRFLOW_DB_PASSWORD`` and so on).
        """
        script_env = {
            **os.environ,
            **env,
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGPASSWORD": self.superuser_password,
            "POSTGRES_USER": "postgres",
            "POSTGRES_DB": "postgres",
        }
        try:
            subprocess.run(
                ["bash", str(POSTGRES_INIT_SCRIPT)],
                env=script_env,
                check=True,
                capture_output=True,
                text=True,
                timeout=120,
            )
        except subprocess.CalledProcessError as exc:
            raise StackError(f"init-databases.sh failed:\n{exc.stdout}\n{exc.stderr}") from exc


# -- Redis -------------------------------------------------------------------------------------


@dataclass
class RedisServer:
    """A Redis server on 127.0.0.1 without persistence: Feast's online store is rebuilt by
    materialization, so losing it loses nothing that cannot be recomputed."""

    base_dir: Path
    port: int = 0
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def pidfile(self) -> Path:
        return self.base_dir / "redis.pid"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "redis.log"

    @property
    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    @property
    def url(self) -> str:
        """``redis://`` URL with the password, as ``MERCATO_REDIS_URL`` expects."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        server = shutil.which("redis-server")
        if server is None:
            raise StackError("redis-server not found: apt-get install -y redis-server")
        self.port = self.port or free_port()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        # The password goes through stdin as a config file, never on a command line (ps shows it).
        config = "\n".join(
            [
                "bind 127.0.0.1",
                f"port {self.port}",
                'save ""',
                "appendonly no",
                "daemonize yes",
                f"pidfile {self.pidfile}",
                f"logfile {self.log_path}",
                f"dir {self.base_dir}",
                f"requirepass {self.password}",
            ]
        )
        result = subprocess.run(
            [server, "-"],
            input=config,
            capture_output=True,
            text=True,
            start_new_session=True,
            timeout=30,
        )
        if result.returncode != 0:
            raise StackError(f"redis-server failed: {result.stderr}\n{_log_tail(self.log_path)}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.ping():
                return self
            time.sleep(0.1)
        self.stop()
        raise StackError(f"redis-server did not answer PING:\n{_log_tail(self.log_path)}")

    def ping(self) -> bool:
        """Authenticate and PING over the Redis protocol (RESP)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                sock.sendall(_resp("AUTH", self.password) + _resp("PING"))
                reply = b""
                while reply.count(b"\r\n") < 2:
                    chunk = sock.recv(1024)
                    if not chunk:
                        break
                    reply += chunk
                return reply == b"+OK\r\n+PONG\r\n"
        except OSError:
            return False

    def stop(self) -> None:
        pid = self.pid
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        _wait_gone(pid, 20)
        self.pidfile.unlink(missing_ok=True)


def _resp(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


# -- MLflow ------------------------------------------------------------------------------------


@dataclass
class MlflowServer:
    """``mlflow server`` with a PostgreSQL backend and proxied artifacts, lean: one worker and no
    job runner (~0.5 GB instead of ~3 GB)."""

    base_dir: Path
    backend_store_uri: str
    port: int = 0
    extra_allowed_hosts: tuple[str, ...] = ()
    process: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.base_dir / "mlflow-server.log"

    @property
    def artifacts_dir(self) -> Path:
        return self.base_dir / "artifacts"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def allowed_hosts(self) -> str:
        return ",".join(
            [f"127.0.0.1:{self.port}", f"localhost:{self.port}", *self.extra_allowed_hosts]
        )

    def command(self) -> list[str]:
        mlflow = Path(sys.executable).parent / "mlflow"
        return [
            str(mlflow) if mlflow.exists() else "mlflow",
            "server",
            "--serve-artifacts",
            "--artifacts-destination",
            str(self.artifacts_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--allowed-hosts",
            self.allowed_hosts,
        ]

    def start(self, timeout: float = 180) -> MlflowServer:
        """Start the server and wait until ``/health`` answers; raise with its log otherwise."""
        self.port = self.port or free_port()
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **TELEMETRY_OFF,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            # Through the environment, not argv: `ps` would show the database password.
            "MLFLOW_BACKEND_STORE_URI": self.backend_store_uri,
        }
        try:
            server = start_server(
                self.command(),
                env,
                "127.0.0.1",
                self.port,
                self.log_path,
                ready_path="/health",
                timeout=timeout,
                name="mlflow server",
                cwd=self.base_dir,
                append_log=True,
                poll_interval=0.5,
            )
        except ServerStartError as exc:
            raise StackError(str(exc)) from exc
        self.process = server.process
        return self

    def stop(self) -> None:
        """SIGTERM the server's whole process group (uvicorn and its worker), SIGKILL stragglers."""
        if self.process is None:
            return
        stop_group(self.process.pid, 30, process=self.process)


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


# -- The whole stack ---------------------------------------------------------------------------


@dataclass
class LocalStack:
    """PostgreSQL (Airflow + MLflow databases), Redis and an MLflow server, started together."""

    base_dir: Path
    postgres: PostgresServer
    redis: RedisServer
    mlflow: MlflowServer | None
    passwords: dict[str, str]

    def airflow_db_url(self) -> str:
        return self.postgres.url(
            "airflow", "airflow", self.passwords["AIRFLOW_DB_PASSWORD"], "postgresql+psycopg2"
        )

    def mlflow_db_url(self) -> str:
        return self.postgres.url(
            "mlflow", "mlflow", self.passwords["MLFLOW_DB_PASSWORD"], "postgresql+psycopg2"
        )

    def env(self) -> dict[str, str]:
        """Environment that points Mercato, MLflow clients and Airflow at this stack."""
        env = {
            **TELEMETRY_OFF,
            **MLFLOW_CLIENT_ENV,
            "MERCATO_ONLINE_STORE": "redis",
            "MERCATO_REDIS_URL": self.redis.url,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.airflow_db_url(),
        }
        if self.mlflow is not None:
            env["MERCATO_MLFLOW_TRACKING_URI"] = self.mlflow.url
        return env

    def stop(self) -> None:
        """Stop every service, last started first; safe to call twice."""
        errors: list[BaseException] = []
        for service in (self.mlflow, self.redis, self.postgres):
            if service is None:
                continue
            try:
                service.stop()
            except Exception as exc:  # keep stopping the others
                errors.append(exc)
        if errors:
            raise StackError(f"stopping the stack failed: {errors}")

    def state(self) -> dict:
        return {
            "base_dir": str(self.base_dir),
            "postgres": {
                "port": self.postgres.port,
                "pid": self.postgres.pid,
                "superuser_password": self.postgres.superuser_password,
            },
            "redis": {"port": self.redis.port, "pid": self.redis.pid},
            "mlflow": None
            if self.mlflow is None or self.mlflow.process is None
            else {"port": self.mlflow.port, "pgid": self.mlflow.process.pid},
            "env": self.env(),
        }


def start_stack(base_dir: Path | None = None, with_mlflow: bool = True) -> LocalStack:
    """Start PostgreSQL, create the Airflow and MLflow databases, start Redis and MLflow.

    ``base_dir`` must be a folder the ``postgres`` account can reach when running as root (pytest's
    ``tmp_path`` is not: it lies below a 0700 folder); by default a fresh folder in /tmp is made.
    On any failure, whatever was started is stopped again before the error propagates.
    """
    base_dir = Path(base_dir) if base_dir else Path(tempfile.mkdtemp(prefix="mercato-stack-"))
    base_dir.mkdir(parents=True, exist_ok=True)
    base_dir.chmod(0o755)
    passwords = {
        "AIRFLOW_DB_PASSWORD": secrets.token_urlsafe(24),
        "MLFLOW_DB_PASSWORD": secrets.token_urlsafe(24),
    }
    stack = LocalStack(
        base_dir=base_dir,
        postgres=PostgresServer(base_dir / "postgres"),
        redis=RedisServer(base_dir / "redis"),
        mlflow=None,
        passwords=passwords,
    )
    try:
        stack.postgres.start()
        stack.postgres.run_init_script(passwords)
        stack.redis.start()
        if with_mlflow:
            stack.mlflow = MlflowServer(base_dir / "mlflow", stack.mlflow_db_url())
            stack.mlflow.start()
    except BaseException:
        stack.stop()
        raise
    return stack


@contextlib.contextmanager
def local_stack(base_dir: Path | None = None, with_mlflow: bool = True) -> Iterator[LocalStack]:
    """``with local_stack() as stack:`` runs the stack for the block and always stops it."""
    stack = start_stack(base_dir, with_mlflow)
    try:
        yield stack
    finally:
        stack.stop()


# -- Command line ------------------------------------------------------------------------------


def down(base_dir: Path) -> None:
    """Stop the stack that ``up`` (or ``write_state``) recorded in ``base_dir/stack.json``."""
    state_file = base_dir / "stack.json"
    state = json.loads(state_file.read_text())
    mlflow = state.get("mlflow")
    if mlflow:
        stop_group(mlflow["pgid"], 30)
    RedisServer(base_dir / "redis", port=state["redis"]["port"]).stop()
    PostgresServer(base_dir / "postgres", port=state["postgres"]["port"]).stop()
    state_file.unlink()


def write_state(stack: LocalStack) -> None:
    """Record a running stack in ``base_dir/stack.json`` (owner-only), for ``down``."""
    state_file = stack.base_dir / "stack.json"
    state_file.write_text(json.dumps(stack.state(), indent=2))
    state_file.chmod(0o600)


def main(argv: list[str] | None = None) -> int:
    """``up`` starts the stack in the background and prints the environment; ``down`` stops it."""
    parser = argparse.ArgumentParser(prog="python -m devtools.stack", description=__doc__)
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--dir", type=Path, required=True, help="folder for data, logs and state")
    parser.add_argument("--no-mlflow", action="store_true", help="start PostgreSQL and Redis only")
    args = parser.parse_args(argv)
    base_dir = args.dir.expanduser().resolve()
    if args.action == "down":
        down(base_dir)
        return 0
    if (base_dir / "stack.json").exists():
        parser.error(f"a stack already runs from {base_dir}: run `down` first")
    stack = start_stack(base_dir, with_mlflow=not args.no_mlflow)
    write_state(stack)
    for key, value in stack.env().items():
        print(f"export {key}='{value}'")
    if stack.mlflow is not None:
        print(f"# MLflow UI: {stack.mlflow.url}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
