"""Run dbt against the warehouse, one layer or the whole project.

On DuckDB (the default) dbt runs in this process. With ``MERCATO_WAREHOUSE=spark`` the raw
tables are first exported from DuckDB as Parquet, then dbt runs in a child process
(``python -m warehouse.dbt``) whose dbt-spark session owns a local Spark (``local[2]``, bound to
127.0.0.1, UI off): the JVM and its memory end with the child, and the marts it writes as
Parquet below ``settings.spark_dir`` are what :mod:`warehouse.reader` then reads.

dbt runs through ``dbtRunner().invoke()`` with every path passed explicitly (project and profiles
from the repo, target and logs below ``MERCATO_HOME``) and the warehouse path handed to
``profiles.yml`` through ``MERCATO_WAREHOUSE_PATH``. The profile sets ``keep_open: false`` so
the file lock is released when dbt returns.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
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


#: Set in the child that runs dbt-spark, so it runs dbt itself instead of starting another.
_CHILD_FLAG = "MERCATO_DBT_CHILD"

#: Models (and their tests) not built on Spark: every source other than orders. Their families
#: read sources that the order pipeline does not need, and their SQL (regular expressions over
#: review text, JSON support messages) has not been ported to Spark yet; docs/spark.md.
SPARK_EXCLUDED = (
    "source:raw.ad_impressions+",
    "source:raw_campaigns.campaign_exposures+",
    "source:raw.ratings+",
    "source:raw_reviews.reviews+",
    "source:raw.sessions+",
    "source:raw_support.support_messages+",
)

#: dbt sub-commands that take --exclude.
_SPARK_EXCLUDABLE = {"build", "run", "test", "compile", "ls", "list", "docs"}

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
    if settings.warehouse == "spark" and os.environ.get(_CHILD_FLAG) != "1":
        return _run_spark_child(settings, args)
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
    if settings.warehouse == "spark":
        os.environ["MERCATO_SPARK_DIR"] = str(settings.spark_dir)
        full += ["--target", "spark"]
        if args and args[0] in _SPARK_EXCLUDABLE:
            full += ["--exclude", *SPARK_EXCLUDED]
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


def export_raw_to_parquet(settings: Settings) -> dict[str, Path]:
    """Copy every raw table from the DuckDB warehouse to ``spark_dir/raw/<table>.parquet``.

    Landing and the raw gate stay on DuckDB; Spark reads the raw layer from these files.
    Returns the Parquet file of each table.
    """
    import duckdb

    out = settings.spark_dir / "raw"
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        tables = [
            row[0]
            for row in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'raw' "
                "and database_name = current_database() order by table_name"
            ).fetchall()
        ]
        for table in tables:
            path = out / f"{table}.parquet"
            con.execute(f"copy raw.\"{table}\" to '{path}' (format parquet)")
            files[table] = path
    return files


def _run_spark_child(settings: Settings, args: list[str]) -> dict[str, Any]:
    """Export the raw tables, run ``args`` through dbt-spark in a child, return its summary."""
    export_raw_to_parquet(settings)
    env = {
        **os.environ,
        **settings.to_env(),
        _CHILD_FLAG: "1",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
    }
    result_file = settings.dbt_log_dir / "spark_result.json"
    result_file.unlink(missing_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "warehouse.dbt", str(result_file), json.dumps(args)],
        env=env,
        cwd=str(settings.home),
        capture_output=True,
        text=True,
        check=False,
    )
    if not result_file.is_file():
        raise DbtFailed(
            f"dbt {' '.join(args)} on Spark ended (exit {proc.returncode}) without a result:\n"
            f"{proc.stderr[-4000:]}\n  logs: {settings.dbt_log_dir / 'dbt.log'}"
        )
    outcome = json.loads(result_file.read_text())
    if "error" in outcome:
        raise DbtFailed(outcome["error"])
    return outcome["summary"]


def _spark_session(settings: Settings, rebuild: bool) -> Any:
    """The local Spark session dbt-spark's ``session`` method will pick up, with the raw
    Parquet files registered as ``raw.<table>``."""
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("mercato-dbt")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(settings.spark_dir / "warehouse"))
        .config("spark.sql.ansi.enabled", "false")
        .config("spark.sql.timestampType", "TIMESTAMP_NTZ")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    if rebuild:
        # Spark's in-memory catalog forgets tables when the child ends, but their folders stay;
        # a build writes every mart anew, so the old folders go first.
        shutil.rmtree(settings.spark_dir / "warehouse", ignore_errors=True)
    spark.sql("create database if not exists raw")
    for path in sorted((settings.spark_dir / "raw").glob("*.parquet")):
        spark.sql(f"drop table if exists raw.`{path.stem}`")
        spark.sql(f"create table raw.`{path.stem}` using parquet location '{path}'")
    return spark


def _child_main(result_file: str, args_json: str) -> None:
    """Entry of the child process: run dbt-spark and write the summary (or error) as JSON."""
    from mercato.settings import get_settings

    settings = get_settings()
    out = Path(result_file)
    try:
        args = json.loads(args_json)
        _spark_session(settings, rebuild=bool(args) and args[0] in ("build", "run"))
        outcome: dict[str, Any] = {"summary": run_dbt(settings, args)}
    except DbtFailed as exc:
        outcome = {"error": str(exc)}
    out.write_text(json.dumps(outcome))


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


if __name__ == "__main__":
    _child_main(sys.argv[1], sys.argv[2])
