"""Run dbt in-process against the DuckDB warehouse, one layer or the whole project.

dbt runs through ``dbtRunner().invoke()`` with every path passed explicitly (project and profiles
from the repo, target and logs below ``MERCATO_HOME``) and the warehouse path handed to
``profiles.yml`` through ``MERCATO_WAREHOUSE_PATH``. The profile sets ``keep_open: false`` so
the file lock is released when dbt returns.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

from mercato.settings import Settings

#: dbt's layers (folders under ``dbt_project/models/``) in build order. Built one by one they
#: run exactly the models and tests of one whole ``dbt build`` (the raw sources' tests belong to
#: ``staging``, where they are declared); ``mercato_transform`` shows each as its own task.
DBT_LAYERS = ("staging", "intermediate", "marts")

#: dbt sub-commands that accept --vars and --target-path.
_PROJECT_COMMANDS = {
    "build",
    "run",
    "test",
    "seed",
    "compile",
    "parse",
    "docs",
    "ls",
    "list",
    "show",
}


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class DbtFailed(RuntimeError):
    """dbt did not finish cleanly; the message names every failed model and test."""


def dbt_vars(settings: Settings) -> dict[str, Any]:
    """dbt vars taken from the settings (same knobs for the CLI, Airflow and tests)."""
    return {
        "snapshot_every_days": settings.snapshot_every_days,
        "horizon_days": settings.propensity_horizon_days,
        "churn_horizon_days": settings.churn_horizon_days,
        "clv_holdout_days": settings.clv_holdout_days,
    }


def run_dbt(settings: Settings, args: list[str] | None = None) -> dict[str, Any]:
    """Run a dbt command (default ``build``) against the warehouse and summarise it.

    Raises :class:`DbtFailed` naming each model, test or unit test that errored or failed.
    """
    from dbt.cli.main import dbtRunner

    from mercato.settings import apply_runtime_env

    apply_runtime_env(settings)
    args = list(args or ["build"])
    settings.dbt_target_dir.mkdir(parents=True, exist_ok=True)
    settings.dbt_log_dir.mkdir(parents=True, exist_ok=True)
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    os.environ["MERCATO_WAREHOUSE_PATH"] = str(settings.warehouse_path)
    settings.duckdb_temp_dir.mkdir(parents=True, exist_ok=True)
    os.environ["MERCATO_DUCKDB_MEMORY_LIMIT"] = settings.duckdb_memory_limit
    os.environ["MERCATO_DUCKDB_TEMP_DIR"] = str(settings.duckdb_temp_dir)

    # Progress goes to dbt.log in the log folder; the terminal gets errors and our summary.
    full = [
        *args,
        "--quiet",
        "--project-dir",
        str(settings.dbt_project_dir),
        "--profiles-dir",
        str(settings.dbt_project_dir),
        "--log-path",
        str(settings.dbt_log_dir),
    ]
    if args and args[0] in _PROJECT_COMMANDS:
        full += [
            "--target-path",
            str(settings.dbt_target_dir),
            "--vars",
            json.dumps(dbt_vars(settings)),
        ]
    outcome = dbtRunner().invoke(full)
    summary = _summarise(args, outcome)
    if not outcome.success:
        failed = summary["failed"]
        detail = "\n".join(f"  - {name}: {msg}" for name, msg in failed) if failed else ""
        if outcome.exception is not None:
            detail += f"\n  - dbt error: {outcome.exception}"
        raise DbtFailed(
            f"dbt {' '.join(args)} failed"
            + (f" ({len(failed)} node(s))" if failed else "")
            + f":\n{detail.strip(chr(10))}\n  logs: {settings.dbt_log_dir / 'dbt.log'}"
        )
    summary.pop("failed")
    return summary


def _summarise(args: list[str], outcome: Any) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    failed: list[tuple[str, str]] = []
    results = getattr(outcome.result, "results", None) or []
    for item in results:
        node = getattr(item, "node", None)
        kind = str(getattr(getattr(node, "resource_type", None), "value", "node"))
        status = str(getattr(item.status, "value", item.status))
        counts[f"{kind}_{status}"] += 1
        if status in ("error", "fail", "runtime error"):
            name = getattr(node, "name", None) or getattr(node, "unique_id", "?")
            message = _ANSI.sub("", item.message or status).strip()
            failed.append((f"{kind} {name}", message))
    return {
        "command": " ".join(args),
        "models_built": counts.get("model_success", 0),
        "tests_passed": counts.get("test_pass", 0),
        "unit_tests_passed": counts.get("unit_test_pass", 0),
        "warnings": counts.get("test_warn", 0),
        "statuses": dict(sorted(counts.items())),
        "failed": failed,
    }


def generate_docs(settings: Settings) -> Path:
    """Build dbt's documentation site into the data folder; returns the static page."""
    run_dbt(settings, ["docs", "generate", "--static"])
    return settings.dbt_target_dir / "static_index.html"
