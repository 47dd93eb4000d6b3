"""The pipeline's stages, one function each, shared by the ``mercato`` CLI and the Airflow DAGs.

Each stage is named after the CLI verb that runs it (``mercato ingest``, ``transform``,
``validate``, ``features``, ``train FAMILY``, ``champions``). Every stage takes the settings,
reads what the previous stage wrote, and returns a JSON-able summary; a failure raises with a
message that names the problem. Heavy libraries are imported inside the stages so that
importing this module (as every DAG file does) stays cheap.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mercato.names import family_names
from mercato.privacy import Pseudonymizer, scrub
from mercato.settings import Settings, apply_runtime_env
from warehouse.dbt import DBT_LAYERS

#: Row counts of the marts at the last mart gate that passed (the next gate compares).
MART_COUNTS_FILE = "mart_row_counts.json"


def ingest(settings: Settings, data: Path | None = None, source: str | None = None) -> dict:
    """Load new batches into ``raw``: one file if given, else everything in the landing folder.

    Both ways go through ``warehouse.landing.ingest_file``, which recognises the file's source
    by its columns (or takes ``source``) and copies an accepted file into the archive: a given
    file stays where it is, a landing file is deleted from the landing folder once its rows are
    loaded. Raises ``expectations.GateFailed`` when the raw gate rejects a batch (it is then in
    quarantine, and the warehouse holds none of its rows); the other landing files are loaded
    first.
    """
    from warehouse import landing

    apply_runtime_env(settings)
    settings.ensure_dirs()
    if data is not None:
        data = Path(data).expanduser().resolve()
        if not data.is_file():
            raise FileNotFoundError(f"no data file at {data}")
        results = [landing.ingest_file(settings, data, source=source)]
    else:
        results = landing.ingest_landing(settings)
    return {"batches": [dataclasses.asdict(r) for r in results]}


def transform(settings: Settings, select: str | None = None, finish: bool | None = None) -> dict:
    """Build the dbt models with their tests; a finishing build adds row counts and docs.

    Without ``select`` this is one ``dbt build`` of every layer. With a dbt selector (a layer of
    :data:`warehouse.dbt.DBT_LAYERS`, or any selector dbt understands) it builds only that part.
    Tests are picked *buildable*: a test runs with the last of its models, never against a model
    of a later layer that is not built yet, so the layers in order run each test once. A
    selector that matches no model raises ``ValueError`` (dbt itself succeeds doing nothing).

    ``finish`` adds the row count of every table (``row_counts``) and writes dbt's docs
    (``docs``, the static page). It defaults to True for the whole build (no ``select``) and for
    the last layer, and to False for any other selection.
    """
    from warehouse import dbt, landing, reader

    apply_runtime_env(settings)
    settings.ensure_dirs()
    landing.ensure_raw_tables(settings)
    args = ["build"]
    if select is not None:
        args += ["--select", select, "--indirect-selection", "buildable"]
    summary = dbt.run_dbt(settings, args)
    if select is not None and summary["models_built"] == 0:
        raise ValueError(
            f"dbt selector {select!r} matched no model; the layers are {', '.join(DBT_LAYERS)}"
        )
    if finish is None:
        finish = select in (None, DBT_LAYERS[-1])
    if finish:
        summary["row_counts"] = reader.table_counts(settings)
        summary["docs"] = str(dbt.generate_docs(settings))
    return summary


def validate(settings: Settings) -> dict[str, Any]:
    """The Great Expectations gate over the marts; raises ``GateFailed`` on a critical check.

    Reads every mart, runs the pure check of ``expectations.mart_gate`` against the row counts
    of the last passing run, and keeps the new counts when it passes. On a failure the report
    and the failing rows go to ``quarantine/marts-<time>/``; the marts stay where they are and
    nothing downstream runs.
    """
    from expectations import GateFailed
    from expectations.mart_gate import check_marts, mart_tables, record_pass
    from expectations.report import write_marts_report
    from warehouse import reader

    apply_runtime_env(settings)
    counts_path = settings.gx_dir / MART_COUNTS_FILE
    previous = json.loads(counts_path.read_text()) if counts_path.is_file() else {}
    # on Spark the optional marts of the sources it leaves out are not there to check
    unbuilt = reader.unbuilt_marts(settings)
    frames = reader.LazyTables(settings, [t for t in mart_tables() if t not in unbuilt])
    result = check_marts(frames, previous, settings)
    if not result.success:
        folder = settings.quarantine_dir / f"marts-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
        write_marts_report(folder, result)
        raise GateFailed(result.failure_message(), result)
    counts_path.parent.mkdir(parents=True, exist_ok=True)
    counts = result.table_rows
    counts_path.write_text(json.dumps(counts, indent=2, sort_keys=True))
    record_pass(settings, datetime.now(UTC))
    return dataclasses.asdict(result)


def features(settings: Settings) -> dict[str, Any]:
    """Export the feature marts for Feast, apply the definitions and load the online store."""
    from features import store

    apply_runtime_env(settings)
    settings.ensure_dirs()
    exported = store.export_sources(settings)
    store.apply(settings)
    materialized = store.materialize(settings)
    return {"exported": exported, "materialized": dict(materialized)}


def train(settings: Settings, family: str) -> dict[str, Any]:
    """Train, evaluate, register and gate one model family (see ``models.training``)."""
    from models import training

    result = training.train(family, settings)
    return json.loads(json.dumps(dataclasses.asdict(result), default=_plain))


def champions(settings: Settings) -> dict[str, Any]:
    """The champion version of every family; running services follow the ``champion`` alias.

    Nothing is copied or restarted: the service checks the alias every
    ``MERCATO_MODEL_POLL_SECONDS`` and swaps a new champion in by itself.
    """
    from models import registry

    apply_runtime_env(settings)
    return {"champions": registry.champions(settings)}


def forget(
    settings: Settings,
    customer_id: str,
    retrain: bool = False,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Forget a customer everywhere (``features.forget``), tell a running service, retrain.

    The erasure runs here; then a service at ``serve_host:serve_port`` is asked (with the API
    key) to drop the customer from the models it serves, at once. Without a reachable service,
    or without a key, a running one applies the suppression list at its next alias check
    (``MERCATO_MODEL_POLL_SECONDS``). ``retrain`` then rebuilds the marts and features and
    trains every family on the data without the customer (``run_all`` on an empty landing
    folder), so the new champions never knew them. The summary names the customer by
    pseudonym only.
    """
    from features.forget import forget as erase

    apply_runtime_env(settings)
    summary = erase(settings, customer_id).summary()
    summary["service"] = _tell_service(settings, customer_id)
    if retrain:
        run = run_all(settings, None, progress=progress)
        summary["retrain"] = {
            name[len("train_") :]: {"version": r.get("version"), "promoted": r.get("promoted")}
            for name, r in run.items()
            if name.startswith("train_") and isinstance(r, dict)
        }
    return summary


def _tell_service(settings: Settings, customer_id: str) -> str:
    """Ask a running service to forget the customer now; a line saying what happened."""
    import urllib.error
    import urllib.request

    url = f"http://{settings.serve_host}:{settings.serve_port}/admin_forget"
    if not settings.api_key:
        return (
            "not asked (no MERCATO_API_KEY): a running service drops the customer at its next "
            "alias check"
        )
    request = urllib.request.Request(
        url,
        data=json.dumps({"customer_id": str(customer_id)}).encode(),
        headers={"Content-Type": "application/json", "X-API-Key": settings.api_key},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            dropped = json.loads(answer.read()).get("lookups_dropped", 0)
        return f"{url}: forgotten now ({dropped} lookups dropped)"
    except urllib.error.HTTPError as err:
        return f"{url} answered {err.code}: the service applies the list at its next alias check"
    except OSError:
        return f"no service at {url}"


def monitor(settings: Settings, fail: bool = True) -> dict[str, Any]:
    """Watch the champions: drift, realised performance, freshness (see ``monitoring``).

    Writes ``monitoring/results/<run>.json`` (and ``latest.json``, which ``/metrics`` reads) and
    the HTML report ``monitoring/reports/<run>.html``. When a limit is crossed and ``fail`` is
    true, raises ``monitoring.monitor.MonitorAlert`` naming every feature or metric; its
    ``result["retrain"]`` lists the families to retrain.
    """
    from monitoring import monitor as watch

    apply_runtime_env(settings)
    settings.ensure_dirs()
    result = watch.run(settings)
    if fail and result["alerts"]:
        retrain = ", ".join(result["retrain"]) or "none (a data problem)"
        raise watch.MonitorAlert(
            "monitor: " + "; ".join(result["alerts"]) + f". Retrain: {retrain}. "
            f"Report: {result['report']}",
            result,
        )
    return result


def run_all(
    settings: Settings,
    data: Path | None = None,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every stage in order, printing progress, and keep a JSON summary of the run."""
    started = datetime.now(UTC)
    summary: dict[str, Any] = {"started_at": started.isoformat(), "home": str(settings.home)}
    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("ingest", lambda: ingest(settings, data)),
        ("transform", lambda: transform(settings)),
        ("validate", lambda: validate(settings)),
        ("features", lambda: features(settings)),
        *[(f"train_{f}", lambda f=f: train(settings, f)) for f in family_names(settings)],
        ("champions", lambda: champions(settings)),
        ("monitor", lambda: monitor(settings, fail=False)),
    ]
    for number, (name, step) in enumerate(steps, start=1):
        progress(f"[{number}/{len(steps)}] {name} ...")
        tick = time.perf_counter()
        summary[name] = step()
        summary[name]["seconds"] = round(time.perf_counter() - tick, 2)
        progress(f"[{number}/{len(steps)}] {name} done in {summary[name]['seconds']} s")
    summary["finished_at"] = datetime.now(UTC).isoformat()
    settings.run_log_dir.mkdir(parents=True, exist_ok=True)
    out = settings.run_log_dir / f"run-{started.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    # Run summaries never hold raw customer ids: any such field gets its pseudonym.
    written = scrub(summary, Pseudonymizer(settings.home))
    out.write_text(json.dumps(written, indent=2, default=str))
    shutil.copyfile(out, settings.run_log_dir / "latest.json")
    return summary


def _plain(value: Any) -> Any:
    """JSON for what families put in their details (dataclasses, NumPy values, paths)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
