"""Property-based fuzzing of the live HTTP API with Schemathesis, against its own OpenAPI document.

Why it exists: the unit and integration tests check the answers we thought of; this sends the
service the requests nobody thought of (generated from ``/docs.json``: boundary values, wrong
types, unknown fields, odd bytes, missing or wrong API keys) and checks every answer against the
same document clients read. CI runs it from ``.ci/run``. It asserts that

- nothing a client sends produces a 5xx (``not_a_server_error``);
- every status is one the document lists, with the documented content type, headers and body
  schema (``status_code_conformance``, ``content_type_conformance``,
  ``response_headers_conformance``, ``response_schema_conformance``);
- the API key is enforced wherever the document says it is (``ignored_auth``: each operation is
  probed again without the key and with a wrong one, and must answer 401).

What it does, all on 127.0.0.1 and nothing else (no network; Schemathesis has no telemetry):

1. a data folder: a temporary one where the small synthetic data set is generated (fixed seed
   and a fixed end date, never today, so every run sees the same data) and the whole pipeline
   runs; or ``--home DIR``, reused as it is when it already holds a pipeline run;
2. the service (``serving.launch.start_background``) on a free loopback port, with a random API
   key (``MERCATO_API_KEY``) so authentication is part of what is fuzzed;
3. ``schemathesis run`` (its CLI: the supported interface of Schemathesis 4; its engine has no
   stable Python API) on every operation of ``/docs.json``, authenticated with the key, in
   deterministic mode (the same examples on every run, so CI results do not vary), at most
   ``--max-examples`` generated cases per operation and phase, under a ``--max-seconds`` budget
   (the run is interrupted and counts as failed when it is spent: on this data it takes seconds,
   so a spent budget means the service has become slow or hangs);
4. a summary built from Schemathesis' NDJSON event report: the operations, the requests tried
   per operation and phase, the HTTP statuses seen, and each failure with a ``curl`` line that
   replays it (``$MERCATO_URL`` and ``$MERCATO_API_KEY`` stand for your server and key).

Usage::

    python -m devtools.fuzz_api [--max-examples 50] [--max-seconds 240] [--home DIR]
                                [--seed N] [--keep]

Exit status: 0 no failure; 1 failures found, an error during the run, or the budget spent;
2 the data folder or the service could not be prepared. The temporary folder is removed at the
end; after a failure, the server log, Schemathesis' output and its reports are kept (their paths
are printed). The reports hold the run's throwaway key: the server it opened is gone by then.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mercato.settings import REPO_ROOT, TELEMETRY_OFF, Settings, get_settings

if TYPE_CHECKING:
    from serving.launch import ServiceProcess

#: The day after the last generated order: fixed, so the data (and the models) never depend
#: on the day the run happens (the same date as the tests' ``tests/fixed_dates.py``).
END_DATE = date(2026, 11, 28)
#: The small synthetic data set of the tests' ``pipeline_home`` fixture.
SYNTHETIC = {"n_customers": 300, "n_products": 120, "days": 240, "seed": 7}
HOST = "127.0.0.1"
DEFAULT_MAX_EXAMPLES = 50
DEFAULT_MAX_SECONDS = 240.0
#: What every answer must satisfy (Schemathesis 4 check names).
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "ignored_auth",
)
#: One request may take this long before it counts as an error (BentoML's own limit is 10 s).
REQUEST_TIMEOUT = 15
#: After the budget is spent, Schemathesis gets this long to stop and write its reports.
STOP_GRACE = 30.0
#: Request headers left out of the replay lines (the HTTP client's own).
CLIENT_HEADERS = frozenset(
    {"user-agent", "accept-encoding", "accept", "connection", "content-length", "host"}
)
EXIT_OK, EXIT_FAILED, EXIT_SETUP = 0, 1, 2
#: Schemathesis' event report (NDJSON), in the reports folder: the summary is read from it.
EVENTS = "events.ndjson"


class SetupError(RuntimeError):
    """The data folder or the service could not be prepared."""


# -- the data folder and the service -------------------------------------------------------------
def holds_pipeline_run(home: Path) -> bool:
    """True when ``home`` is a data folder where the whole pipeline has run (its run summary)."""
    settings = dataclasses.replace(get_settings(), home=home)
    return (settings.run_log_dir / "latest.json").is_file()


def fuzz_settings(home: Path, api_key: str) -> Settings:
    """The settings of the run: ``home``, MLflow and the online store in it, and ``api_key``.

    The online store is the local SQLite one and metrics are on (``/metrics`` is fuzzed too),
    whatever the environment says, so the run needs no other server and no network.
    """
    return dataclasses.replace(
        get_settings(),
        home=home,
        mlflow_tracking_uri="",
        online_store="sqlite",
        serve_host=HOST,
        api_key=api_key,
        serving_metrics=True,
    )


def prepare_home(settings: Settings, log: IO[str]) -> float:
    """Generate one batch of every source, run the whole pipeline in ``settings.home`` and make
    sure every family serves a version; seconds.

    The fuzzer tests what the service does with what clients send, not model quality: a family
    whose gate refused its first version on the small generated data gets that version promoted
    by hand (as ``mercato promote`` would), so that every endpoint answers instead of 503.
    """
    from mlflow import MlflowClient

    from models import registry
    from pipeline.stages import run_all
    from warehouse.synthetic_landing import write_landing

    started = time.monotonic()
    settings.ensure_dirs()
    write_landing(settings.landing_dir, end_date=END_DATE, campaign_customers=6000, **SYNTHETIC)
    try:
        run_all(settings, None, progress=lambda line: print(f"  {line}", file=log, flush=True))
    except Exception as exc:  # noqa: BLE001 - any stage failing means there is nothing to fuzz
        raise SetupError(f"the pipeline failed: {type(exc).__name__}: {exc}") from exc
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    for name, version in registry.champions(settings).items():
        if version is None:
            found = client.search_model_versions(f"name='{name}'")
            if found:
                latest = max(found, key=lambda v: int(v.version))
                registry.promote(settings, name, str(latest.version))
                print(f"  promoted {name} v{latest.version} by hand to fuzz it", file=log)
    return time.monotonic() - started


@contextlib.contextmanager
def running_service(settings: Settings, log_path: Path) -> Iterator[ServiceProcess]:
    """The service on a free loopback port, stopped (workers included) when the block ends."""
    from serving.launch import ServiceStartError, free_port, start_background

    try:
        server = start_background(settings, host=HOST, port=free_port(HOST), log_path=log_path)
    except ServiceStartError as exc:
        raise SetupError(str(exc)) from exc
    try:
        yield server
    finally:
        server.stop()


# -- schemathesis ------------------------------------------------------------------------------
def schemathesis_command(
    url: str, api_key: str, report_dir: Path, max_examples: int, seed: int | None
) -> list[str]:
    """The ``schemathesis run`` command line against ``url``'s ``/docs.json``."""
    args = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{url}/docs.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(max_examples),
        "--header",
        f"Authorization: Bearer {api_key}",
        "--workers",
        "1",
        "--request-timeout",
        str(REQUEST_TIMEOUT),
        "--wait-for-schema",
        "30",
        "--report",
        "ndjson",
        "--report-dir",
        str(report_dir),
        "--report-ndjson-path",
        str(report_dir / EVENTS),
        # Not sanitized, so that the replay lines are exact; the key is masked when printed.
        "--output-sanitize",
        "false",
        "--no-color",
    ]
    if seed is None:
        args.append("--generation-deterministic")  # the same examples on every run
    else:
        args += ["--seed", str(seed), "--generation-database", "none"]
    return args


def schemathesis_env() -> dict[str, str]:
    """Our environment with no proxy for loopback, no Schemathesis hooks, telemetry off."""
    env = {k: v for k, v in os.environ.items() if k != "SCHEMATHESIS_HOOKS"}
    env.update(TELEMETRY_OFF)
    for name in ("NO_PROXY", "no_proxy"):
        hosts = [h for h in env.get(name, "").split(",") if h]
        env[name] = ",".join([*hosts, HOST, "localhost"])
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclasses.dataclass
class FuzzRun:
    """How ``schemathesis run`` ended."""

    exit_code: int | None
    seconds: float
    budget_spent: bool


def run_schemathesis(
    command: Sequence[str], max_seconds: float, output: Path, mask: str, workdir: Path
) -> FuzzRun:
    """Run ``command``, its output streamed to our stdout (``mask`` hidden) and to ``output``.

    When ``max_seconds`` pass, it gets SIGINT (Schemathesis then stops and writes its reports),
    and SIGKILL ``STOP_GRACE`` seconds later.
    """
    started = time.monotonic()
    with open(output, "w", encoding="utf-8") as copy:
        proc = subprocess.Popen(
            command,
            cwd=workdir,  # no schemathesis.toml of ours or anyone's is picked up
            env=schemathesis_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
            errors="replace",
        )

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.replace(mask, "$MERCATO_API_KEY")
                copy.write(line)
                sys.stdout.write(f"  | {line}")
                sys.stdout.flush()

        reader = threading.Thread(target=pump, name="schemathesis-output", daemon=True)
        reader.start()
        budget_spent = False
        try:
            proc.wait(timeout=max_seconds)
        except subprocess.TimeoutExpired:
            budget_spent = True
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        finally:
            if proc.poll() is None:  # interrupted ourselves (SIGTERM, Ctrl-C): stop it too
                proc.kill()
                proc.wait()
            reader.join(timeout=10)
    return FuzzRun(proc.returncode, time.monotonic() - started, budget_spent)


# -- the summary ------------------------------------------------------------------------------
@dataclasses.dataclass
class Failure:
    """One failed check on one request, with what it takes to replay the request."""

    operation: str
    check: str
    code: str
    title: str
    message: str
    status: int | None
    replay: str


@dataclasses.dataclass
class OperationStats:
    """What was sent to one operation and what came back."""

    requests: int = 0
    phases: Counter[str] = dataclasses.field(default_factory=Counter)
    #: statuses of requests with the operation's own method
    statuses: Counter[int] = dataclasses.field(default_factory=Counter)
    #: statuses of the coverage phase's requests with other methods (PUT on a POST route...)
    other_methods: Counter[int] = dataclasses.field(default_factory=Counter)
    #: requests without an answer (connection errors, timeouts)
    unanswered: int = 0


@dataclasses.dataclass
class Summary:
    """Everything the summary prints, read from Schemathesis' NDJSON events."""

    operations: dict[str, OperationStats] = dataclasses.field(default_factory=dict)
    checks: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    failures: list[Failure] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    running_time: float | None = None
    stop_reason: str | None = None
    _seen: set[tuple[Any, ...]] = dataclasses.field(default_factory=set, repr=False)

    def add_failure(self, failure: Failure) -> None:
        """Record ``failure`` unless the same one (operation, check, status, message) is known."""
        key = (failure.operation, failure.check, failure.code, failure.status, failure.message)
        if key not in self._seen:
            self._seen.add(key)
            self.failures.append(failure)

    @property
    def requests(self) -> int:
        return sum(op.requests for op in self.operations.values())

    def statuses(self) -> Counter[int]:
        total: Counter[int] = Counter()
        for op in self.operations.values():
            total.update(op.statuses)
            total.update(op.other_methods)
        return total


def _body_bytes(body: Any) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, dict) and "$base64" in body:
        return base64.b64decode(body["$base64"])
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def replay_line(request: dict[str, Any], api_key: str, url: str) -> str:
    """A ``curl`` command that sends ``request`` (as recorded) again, to ``$MERCATO_URL``."""
    uri = str(request.get("uri", ""))
    path = uri[len(url) :] if uri.startswith(url) else uri
    parts = ["curl", "-i", "-X", str(request.get("method", "GET"))]
    target = f'"$MERCATO_URL"{shlex.quote(path)}' if path.startswith("/") else shlex.quote(uri)
    parts.append(target)
    for name, values in dict(request.get("headers") or {}).items():
        if name.lower() in CLIENT_HEADERS or name.lower().startswith("x-schemathesis"):
            continue
        for value in values if isinstance(values, list) else [values]:
            if api_key and api_key in str(value):
                header = f"{name}: {str(value).replace(api_key, '$MERCATO_API_KEY')}"
                parts += ["-H", f'"{header}"']
            else:
                parts += ["-H", shlex.quote(f"{name}: {value}")]
    body = _body_bytes(request.get("body"))
    if body is not None:
        try:
            parts += ["--data-raw", shlex.quote(body.decode("utf-8"))]
        except UnicodeDecodeError:
            encoded = base64.b64encode(body).decode()
            parts += ["--data-binary", f"@<(echo {encoded} | base64 -d)"]
    return " ".join(parts)


def read_events(path: Path, api_key: str, url: str) -> Summary:
    """The summary of a run from its NDJSON event report (one JSON object per line)."""
    summary = Summary()
    if not path.is_file():
        summary.errors.append(f"no event report at {path}: Schemathesis did not get to start")
        return summary
    with open(path, encoding="utf-8") as events:
        for line in events:
            if not line.strip():
                continue
            event = json.loads(line)
            name, payload = next(iter(event.items()))
            if name == "ScenarioFinished":
                _read_scenario(summary, payload, api_key, url)
            elif name == "NonFatalError":
                value = payload.get("value") or {}
                summary.errors.append(
                    f"{payload.get('label', '?')}: {value.get('type', 'error')}: "
                    f"{value.get('message', '')}".strip()
                )
            elif name == "FatalError":
                exc = payload.get("exception") or {}
                summary.errors.append(f"fatal: {exc.get('type', 'error')}: {exc.get('message')}")
            elif name == "EngineFinished":
                summary.running_time = payload.get("running_time")
                summary.stop_reason = payload.get("stop_reason")
                for failure in payload.get("failures") or []:
                    summary.add_failure(
                        Failure(
                            operation=str(failure.get("operation", "run")),
                            check="after_run",
                            code=str(failure.get("code", "")),
                            title=str(failure.get("title", "")),
                            message=str(failure.get("message", "")),
                            status=None,
                            replay="",
                        )
                    )
    return summary


def _read_scenario(summary: Summary, payload: dict[str, Any], api_key: str, url: str) -> None:
    recorder = payload.get("recorder") or {}
    label = str(recorder.get("label", "?"))
    method = label.split(" ", 1)[0]
    stats = summary.operations.setdefault(label, OperationStats())
    phase = str(payload.get("phase", "?"))
    interactions = recorder.get("interactions") or {}
    for case_id in recorder.get("cases") or {}:
        stats.requests += 1
        stats.phases[phase] += 1
        interaction = interactions.get(case_id) or {}
        response = interaction.get("response")
        if not response:
            stats.unanswered += 1
            continue
        sent = str((interaction.get("request") or {}).get("method", method)).upper()
        target = stats.statuses if sent == method else stats.other_methods
        target[int(response["status_code"])] += 1
    for case_id, results in (recorder.get("checks") or {}).items():
        for result in results:
            summary.checks[(result.get("name", "?"), result.get("status", "?"))] += 1
            info = result.get("failure_info")
            if result.get("status") != "failure" or not info:
                continue
            failure = info.get("failure") or {}
            interaction = interactions.get(case_id) or {}
            response = interaction.get("response") or {}
            summary.add_failure(
                Failure(
                    operation=label,
                    check=str(result.get("name", "?")),
                    code=str(failure.get("code", "")),
                    title=str(failure.get("title", "")),
                    message=str(failure.get("message", "")),
                    status=response.get("status_code"),
                    replay=replay_line(interaction.get("request") or {}, api_key, url),
                )
            )


def _counts(counter: Counter[int]) -> str:
    return " ".join(f"{status}x{n}" for status, n in sorted(counter.items())) or "-"


def print_summary(
    summary: Summary, run: FuzzRun, max_examples: int, seed: int | None, out: IO[str]
) -> None:
    """The run's summary: operations, requests per operation and phase, statuses, failures."""
    mode = "deterministic" if seed is None else f"seed {seed}"
    print("\n== API fuzzing summary", file=out)
    print(
        f"schemathesis {metadata.version('schemathesis')}, {mode}, at most {max_examples} "
        f"generated cases per operation and phase; checks: {', '.join(CHECKS)}",
        file=out,
    )
    width = max([len(label) for label in summary.operations] + [9])
    print(f"{'operation':<{width}}  requests  by phase", file=out)
    for label, op in sorted(summary.operations.items(), key=lambda item: item[0].split()[::-1]):
        phases = ", ".join(f"{name} {n}" for name, n in op.phases.items())
        print(f"{label:<{width}}  {op.requests:>8}  {phases}", file=out)
        line = f"{'':<{width}}            statuses {_counts(op.statuses)}"
        if op.other_methods:
            line += f"; other methods {_counts(op.other_methods)}"
        if op.unanswered:
            line += f"; no answer x{op.unanswered}"
        print(line, file=out)
    print(
        f"total: {len(summary.operations)} operations, {summary.requests} requests, "
        f"statuses {_counts(summary.statuses())}",
        file=out,
    )
    by_check: dict[str, Counter[str]] = {}
    for (check, status), n in summary.checks.items():
        by_check.setdefault(check, Counter())[status] += n
    print(
        "checks: "
        + "; ".join(
            f"{check} " + " ".join(f"{status} {n}" for status, n in sorted(results.items()))
            for check, results in sorted(by_check.items())
        ),
        file=out,
    )
    print(f"failures: {len(summary.failures) or 'none'}", file=out)
    for number, failure in enumerate(summary.failures, start=1):
        first = failure.message.strip().splitlines()[0] if failure.message.strip() else ""
        status = f" (answered {failure.status})" if failure.status is not None else ""
        print(
            f"  {number}. {failure.operation}: {failure.code} {failure.title} "
            f"[{failure.check}]{status}",
            file=out,
        )
        if first:
            print(f"     {first}", file=out)
        if failure.replay:
            print(f"     {failure.replay}", file=out)
    if summary.failures:
        print(
            "  (replay against a server: MERCATO_URL=http://127.0.0.1:3000 for `mercato serve`, "
            "MERCATO_API_KEY its key)",
            file=out,
        )
    for error in summary.errors:
        print(f"error: {error}", file=out)
    if run.budget_spent:
        print(f"error: the time budget was spent after {run.seconds:.0f} s: stopped", file=out)
    took = summary.running_time if summary.running_time is not None else run.seconds
    print(
        f"schemathesis: exit code {run.exit_code}, stop reason {summary.stop_reason}, {took:.1f} s",
        file=out,
    )


def verdict(summary: Summary, run: FuzzRun) -> bool:
    """True when the run finished with every check passing and nothing going wrong."""
    return (
        run.exit_code == 0
        and not run.budget_spent
        and not summary.failures
        and not summary.errors
        and summary.requests > 0
    )


# -- the command ------------------------------------------------------------------------------
def fuzz(args: argparse.Namespace) -> int:
    """Prepare the data folder, start the service, fuzz it, print the summary; the exit code."""
    started = time.monotonic()
    out = sys.stdout
    workdir = Path(tempfile.mkdtemp(prefix="mercato-fuzz-"))
    reports = workdir / "reports"
    server_log = workdir / "server.log"
    fuzz_log = workdir / "schemathesis.log"
    home = Path(args.home).expanduser().resolve() if args.home else workdir / "home"
    api_key = secrets.token_urlsafe(24)
    settings = fuzz_settings(home, api_key)
    ok = False
    try:
        if holds_pipeline_run(home):
            print(f"== data folder {home}: holds a pipeline run, reused", file=out, flush=True)
        else:
            print(
                f"== data folder {home}: synthetic orders ({SYNTHETIC}, end {END_DATE}), "
                "whole pipeline",
                file=out,
                flush=True,
            )
            seconds = prepare_home(settings, out)
            print(f"== pipeline done in {seconds:.0f} s", file=out, flush=True)
        tick = time.monotonic()
        with running_service(settings, server_log) as server:
            print(
                f"== service ready at {server.url} in {time.monotonic() - tick:.0f} s "
                f"(API key required); fuzzing {server.url}/docs.json",
                file=out,
                flush=True,
            )
            command = schemathesis_command(
                server.url, api_key, reports, args.max_examples, args.seed
            )
            run = run_schemathesis(command, args.max_seconds, fuzz_log, api_key, workdir)
            summary = read_events(reports / EVENTS, api_key, server.url)
        print_summary(summary, run, args.max_examples, args.seed, out)
        ok = verdict(summary, run)
        total = time.monotonic() - started
        print(f"== {'PASS' if ok else 'FAIL'} in {total:.0f} s", file=out, flush=True)
        return EXIT_OK if ok else EXIT_FAILED
    except SetupError as exc:
        print(f"== FAIL: {exc}", file=out, flush=True)
        return EXIT_SETUP
    finally:
        _clean_up(workdir, home, keep_all=args.keep, keep_logs=not ok, out=out)


def _clean_up(workdir: Path, home: Path, *, keep_all: bool, keep_logs: bool, out: IO[str]) -> None:
    """Remove the temporary folder; after a failure keep the logs and reports in it."""
    if keep_all:
        print(f"== kept {workdir}", file=out)
        return
    if not keep_logs:
        shutil.rmtree(workdir, ignore_errors=True)
        return
    if home.is_relative_to(workdir):
        shutil.rmtree(home, ignore_errors=True)
    kept = [p for p in (workdir / "server.log", workdir / "schemathesis.log") if p.exists()]
    if (workdir / "reports").is_dir():
        kept.append(workdir / "reports")
    for path in kept:
        print(f"== kept {path}", file=out)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.fuzz_api",
        description="Fuzz the running Mercato service's HTTP API against its OpenAPI document.",
    )
    parser.add_argument(
        "--max-examples",
        type=int,
        default=DEFAULT_MAX_EXAMPLES,
        help=f"most generated cases per operation and phase (default {DEFAULT_MAX_EXAMPLES})",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=DEFAULT_MAX_SECONDS,
        help=f"time budget of the fuzzing itself; spent means failed (default "
        f"{DEFAULT_MAX_SECONDS:.0f})",
    )
    parser.add_argument(
        "--home",
        help="data folder to serve: reused when it holds a pipeline run, else the pipeline runs "
        "there (it is kept); default: a temporary folder",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="explore with this random seed instead of the deterministic examples CI uses",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (data, logs, reports)"
    )
    args = parser.parse_args(argv)
    if args.max_examples < 1 or args.max_seconds <= 0:
        parser.error("--max-examples and --max-seconds must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    # Nothing reaches the network: every tool's telemetry off before the pipeline imports them.
    os.environ.update(TELEMETRY_OFF)
    # SIGTERM (CI's timeout) unwinds like Ctrl-C, so the service is stopped and the folder removed.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    os.chdir(REPO_ROOT)
    return fuzz(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
