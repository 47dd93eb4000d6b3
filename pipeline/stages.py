"""The pipeline's stages, one function each, shared by the ``mercato`` CLI and the Airflow DAGs.

Every stage takes the settings, reads what the previous stage wrote, and returns a JSON-able
summary; a failure raises with a message that names the problem. Heavy libraries are imported
inside the stages so that importing this module (as every DAG file does) stays cheap.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mercato.settings import Settings, apply_runtime_env

FAMILIES = ("segmentation", "recommendation", "propensity")


def ingest(settings: Settings, data: Path | None = None) -> dict[str, Any]:
    """Load new batches into ``raw``: one file if given, else everything in the landing folder.

    Both ways go through ``mercato.landing.ingest_file``, which copies an accepted file into the
    archive: a given file stays where it is, a landing file is deleted from the landing folder
    once its rows are loaded. Raises ``expectations.GateFailed`` when the raw gate rejects a batch
    (it is then in quarantine, and the warehouse holds none of its rows); the other landing files
    are loaded first.
    """
    from mercato import landing

    apply_runtime_env(settings)
    settings.ensure_dirs()
    if data is not None:
        data = Path(data).expanduser().resolve()
        if not data.is_file():
            raise FileNotFoundError(f"no data file at {data}")
        results = [landing.ingest_file(settings, data)]
    else:
        results = landing.ingest_landing(settings)
    return {
        "batches": [
            {
                "batch_id": r.batch_id,
                "source_file": str(r.source_file),
                "rows": r.rows,
                "status": r.status,
                "warnings": list(r.warnings),
            }
            for r in results
        ]
    }


#: dbt's layers (folders under ``dbt_project/models/``) in build order. Built one by one they
#: run exactly the models and tests of one whole ``dbt build`` (the raw sources' tests belong to
#: ``staging``, where they are declared); ``mercato_transform`` shows each as its own task.
DBT_LAYERS = ("staging", "intermediate", "marts")


def transform(
    settings: Settings, select: str | None = None, finish: bool | None = None
) -> dict[str, Any]:
    """Build the dbt models with their tests; a finishing build adds row counts and docs.

    Without ``select`` this is one ``dbt build`` of every layer. With a dbt selector (a layer of
    :data:`DBT_LAYERS`, or any selector dbt understands) it builds only that part. Tests are
    picked *buildable*: a test runs with the last of its models, never against a model of a
    later layer that is not built yet, so the layers in order run each test once. A selector
    that matches no model raises ``ValueError`` (dbt itself succeeds doing nothing).

    ``finish`` adds the row count of every table (``row_counts``) and writes dbt's docs
    (``docs``, the static page). It defaults to True for the whole build (no ``select``) and to
    False for a selection; the caller that builds the last part (the ``dbt_marts`` task, which
    builds the ``marts`` layer) passes ``finish=True``.
    """
    from mercato import warehouse

    apply_runtime_env(settings)
    settings.ensure_dirs()
    args = ["build"]
    if select is not None:
        args += ["--select", select, "--indirect-selection", "buildable"]
    summary = warehouse.run_dbt(settings, args)
    if select is not None and summary["models_built"] == 0:
        raise ValueError(
            f"dbt selector {select!r} matched no model; the layers are {', '.join(DBT_LAYERS)}"
        )
    if finish is None:
        finish = select is None
    if finish:
        summary["row_counts"] = warehouse.table_counts(settings)
        summary["docs"] = str(warehouse.generate_docs(settings))
    return summary


def validate_marts(settings: Settings) -> dict[str, Any]:
    """Run the Great Expectations gate over the marts; raises ``GateFailed`` on a critical check."""
    from expectations.mart_gate import validate_marts as run_gate

    apply_runtime_env(settings)
    result = run_gate(settings)
    return _as_dict(result)


def materialize_features(settings: Settings) -> dict[str, Any]:
    """Export the feature marts for Feast, apply the definitions and load the online store."""
    from features import store

    apply_runtime_env(settings)
    settings.ensure_dirs()
    exported = store.export_sources(settings)
    store.apply(settings)
    materialized = store.materialize(settings)
    return {"exported": exported, "materialized": _as_dict(materialized)}


def train(settings: Settings, family: str) -> dict[str, Any]:
    """Train, evaluate, register and gate one model family."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; choose one of {', '.join(FAMILIES)}")
    apply_runtime_env(settings)
    settings.ensure_dirs()
    if family == "segmentation":
        from models import segmentation as module
    elif family == "recommendation":
        from models import recommendation as module
    else:
        from models import propensity as module
    data = getattr(module, f"build_{family}_data")(settings)
    result = getattr(module, f"train_{family}")(data, settings)
    return _as_dict(result)


def deploy(settings: Settings) -> dict[str, Any]:
    """Report the champion of every family; running services follow the ``champion`` alias."""
    from models import registry

    apply_runtime_env(settings)
    return {"champions": registry.champions(settings)}


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
        ("validate_marts", lambda: validate_marts(settings)),
        ("materialize_features", lambda: materialize_features(settings)),
        *[(f"train_{f}", lambda f=f: train(settings, f)) for f in FAMILIES],
        ("deploy", lambda: deploy(settings)),
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
    out.write_text(json.dumps(summary, indent=2, default=str))
    shutil.copyfile(out, settings.run_log_dir / "latest.json")
    return summary


def _as_dict(value: Any) -> dict[str, Any]:
    """Summaries may be dataclasses or dicts; the pipeline hands on plain dicts."""
    if isinstance(value, dict):
        return dict(value)
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)
    return {"result": value}
