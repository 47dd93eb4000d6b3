"""The launcher: settings reach the server, a service that cannot start fails fast with its log
instead of hanging, and ``bentoml build`` packs the service offline."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from mercato.settings import REPO_ROOT, Settings, get_settings


def test_settings_travel_to_the_server_through_the_environment(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wanted = Settings(
        home=tmp_path / "elsewhere",
        online_store="redis",
        redis_url="redis://127.0.0.1:6390/2",
        mlflow_tracking_uri="http://127.0.0.1:5999",
        api_key="k",
        serve_port=3111,
        feature_max_age_hours=5.0,
    )
    for key, value in wanted.to_env().items():
        monkeypatch.setenv(key, value)
    assert get_settings() == wanted


def test_command_binds_loopback_by_default(tmp_path) -> None:
    from serving.launch import command

    settings = Settings(home=tmp_path)
    cmd = command(settings)
    assert cmd[1:5] == ["-m", "bentoml", "serve", "serving.service:Mercato"]
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--port") + 1] == "3000"
    assert command(settings, port=4000)[-1] == "4000"


@pytest.mark.slow
def test_a_service_that_cannot_start_fails_fast_with_its_log(tmp_path) -> None:
    from serving.launch import ServiceStartError, free_port, start_background

    empty = dataclasses.replace(get_settings(), home=tmp_path / "empty", mlflow_tracking_uri="")
    empty.ensure_dirs()
    port = free_port()
    with pytest.raises(ServiceStartError) as info:
        start_background(empty, port=port, timeout=240)
    message = str(info.value)
    assert "RuntimeError: no model has a 'champion'" in message
    assert "train first" in message
    # arbiter and worker are gone: nothing keeps the port or restarts the worker
    assert _processes_serving(empty.home) == []


def _processes_serving(home) -> list[int]:
    """Pids of live processes started for the data folder ``home``."""
    import psutil

    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("MERCATO_HOME") == str(home) and proc.status() != "zombie":
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


@pytest.mark.slow
def test_bentoml_build_works_offline(tmp_path) -> None:
    from mercato.settings import TELEMETRY_OFF

    env = {**os.environ, **TELEMETRY_OFF, "BENTOML_HOME": str(tmp_path / "bentoml")}
    env.pop("PIP_INDEX_URL", None)
    env["PIP_NO_INDEX"] = "1"  # nothing may be resolved through an index
    out = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", "-f", "serving/bentofile.yaml", "."],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert 'Successfully built Bento(tag="mercato:' in out.stdout
    bentos = list((tmp_path / "bentoml" / "bentos" / "mercato").glob("*/src/serving/service.py"))
    assert len(bentos) == 1
    requirements = bentos[0].parents[2] / "env" / "python" / "requirements.txt"
    assert "bentoml==" in requirements.read_text()
    assert not list(bentos[0].parents[2].rglob("requirements.lock.txt"))


#: A server answering 200 on /readyz, with a child in its process group that ignores SIGTERM.
STUBBORN_SERVER = """
import http.server, subprocess, sys
subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
class Ready(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/readyz" else 404)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Ready).serve_forever()
"""


def test_start_process_waits_for_readyz_and_stop_leaves_nothing(tmp_path) -> None:
    from serving.launch import free_port, start_process
    from serving.processes import group_alive, group_pids

    port = free_port()
    args = [sys.executable, "-c", STUBBORN_SERVER, str(port)]
    with start_process(args, dict(os.environ), "127.0.0.1", port, tmp_path / "s.log") as server:
        assert server.running()
        assert len(group_pids(server.pid)) == 2  # the server and its stubborn child
        server.stop(timeout=1)  # SIGTERM, then SIGKILL for the child that ignores it
        assert not group_alive(server.pid)


def test_start_process_fails_fast_on_a_failure_marker(tmp_path) -> None:
    import time

    import psutil

    from serving.launch import ServiceStartError, free_port, start_process

    port = free_port()
    script = f"import time; print('Address already in use', flush=True); time.sleep(600)  # {port}"
    started = time.monotonic()
    with pytest.raises(ServiceStartError, match="Address already in use") as info:
        start_process(
            [sys.executable, "-c", script],
            dict(os.environ),
            "127.0.0.1",
            port,
            tmp_path / "s.log",
            timeout=120,
            name="stub",
        )
    assert time.monotonic() - started < 60
    assert "stub failed to start" in str(info.value)
    left = [
        proc.pid
        for proc in psutil.process_iter(["cmdline", "status"])
        if script in (proc.info["cmdline"] or []) and proc.info["status"] != psutil.STATUS_ZOMBIE
    ]
    assert left == []  # stopped, not left running
