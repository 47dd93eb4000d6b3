"""What the Mercato DAGs share: the assets they hand over, task defaults and the stage tasks.

Each task is a thin wrapper around one function of ``pipeline.stages`` (the same functions the
``mercato`` CLI calls) and carries that function's name, so a run with or without Airflow does
the same work. The stage DAGs and
``mercato_pipeline`` build their graphs from these tasks; no business logic lives in ``dags/``.

Everything heavy (the pipeline's libraries) is imported inside the tasks, so parsing a DAG file
stays cheap: at parse time this module only takes ``DBT_LAYERS`` from ``warehouse.dbt`` and the
family names from ``mercato.names``, whose top levels import nothing but the standard library
and ``mercato.settings``. One ``train_<family>`` task per family is generated from that list.
``.airflowignore`` keeps Airflow from parsing this module as a DAG file of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, Param, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

# Cheap by design: both import only the standard library and the settings at the top level.
from mercato.names import DUCKDB_POOL, family_names
from warehouse.dbt import DBT_LAYERS

if TYPE_CHECKING:
    from mercato.settings import Settings

OWNER = "mercato"

#: ``DUCKDB_POOL`` has one slot: DuckDB allows one writer process, so every task that writes the
#: warehouse (or reads it while a writer might be active in another run) takes the single slot.
DUCKDB_POOL_DESCRIPTION = "One slot: only one task at a time writes the DuckDB warehouse."

#: Fixed start date; no DAG catches up, so it only anchors the schedules.
START_DATE = datetime(2025, 1, 1)

#: Defaults for every task of every Mercato DAG (tasks set their own ``execution_timeout``).
#: Tasks are idempotent, so retrying is always safe; the short delay also absorbs a DuckDB lock
#: held for a moment by another run.
DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(seconds=15),
    "execution_timeout": timedelta(minutes=30),
}


# -- assets: what each stage hands to the next -------------------------------------------------
RAW = Asset(name="mercato_raw", uri="mercato://warehouse/raw.order_lines", group="mercato")
MARTS = Asset(name="mercato_marts", uri="mercato://warehouse/marts", group="mercato")
FEATURES = Asset(
    name="mercato_features", uri="mercato://feast/customer_and_product", group="mercato"
)
MODELS = Asset(name="mercato_models", uri="mercato://mlflow/champions", group="mercato")
#: A whole-pipeline run finished (``mercato_pipeline``); only the monitor schedules on it, so
#: the pipeline DAG does not start the stage DAGs as well.
RUN = Asset(name="mercato_run", uri="mercato://runs/latest", group="mercato")

#: Run-time parameter of the DAGs that ingest: one file instead of the landing folder.
DATA_PARAM = Param(
    None,
    type=["null", "string"],
    description="Absolute path of one CSV/Parquet batch to ingest; empty reads the landing folder.",
)


def runtime_settings() -> Settings:
    """The settings of this task's process, with telemetry off and MLflow pointed at our store."""
    from mercato.settings import apply_runtime_env, get_settings

    settings = get_settings()
    apply_runtime_env(settings)
    return settings


@contextmanager
def gate_fails_task() -> Iterator[None]:
    """Turn a failed data gate into a task failure that is not retried: the data will not change."""
    from expectations import GateFailed

    try:
        yield
    except GateFailed as exc:
        raise AirflowFailException(f"data gate failed: {exc}") from exc


# -- the stage tasks ---------------------------------------------------------------------------
@task(pool=DUCKDB_POOL, execution_timeout=timedelta(minutes=30))
def ingest() -> dict[str, Any]:
    """Load new batch files into ``raw`` after the GX raw gate; a rejected batch fails the task."""
    from pathlib import Path

    from pipeline import stages

    data = get_current_context()["params"].get("data")
    with gate_fails_task():
        return stages.ingest(runtime_settings(), Path(data) if data else None)


@task(pool=DUCKDB_POOL, execution_timeout=timedelta(minutes=30))
def dbt_layer(layer: str, finish: bool = False) -> dict[str, Any]:
    """``dbt build --select <layer>``: one dbt layer's models with their tests.

    With ``finish`` it also returns the row count of every table and writes dbt's docs.
    """
    from pipeline import stages

    return stages.transform(runtime_settings(), layer, finish=finish)


def dbt_layers() -> list[Any]:
    """One task per dbt layer, ``dbt_<layer>``, in build order: the caller chains them.

    ``marts``, the last, finishes the build: it also returns the row count of every table and
    writes dbt's docs.
    """
    return [
        dbt_layer.override(task_id=f"dbt_{layer}")(layer, finish=layer == DBT_LAYERS[-1])
        for layer in DBT_LAYERS
    ]


@task(pool=DUCKDB_POOL, execution_timeout=timedelta(minutes=15))
def validate() -> dict[str, Any]:
    """The GX mart gate; a critical failure fails the task and stops everything downstream."""
    from pipeline import stages

    with gate_fails_task():
        return stages.validate(runtime_settings())


@task(pool=DUCKDB_POOL, execution_timeout=timedelta(minutes=30))
def features() -> dict[str, Any]:
    """Export the feature marts, ``feast apply`` and materialize the online store."""
    from pipeline import stages

    return stages.features(runtime_settings())


@task(execution_timeout=timedelta(minutes=60))
def train(family: str) -> dict[str, Any]:
    """Train, evaluate, register and gate one model family (the families run side by side)."""
    from pipeline import stages

    return stages.train(runtime_settings(), family)


def train_all() -> list[Any]:
    """One training task per model family (``mercato.names``), each named ``train_<family>``."""
    return [train.override(task_id=f"train_{family}")(family) for family in family_names()]


@task(execution_timeout=timedelta(minutes=5))
def collect_models(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Gather the training summaries into one (and emit the models asset when asked)."""
    return {result["family"]: result for result in results}


@task(execution_timeout=timedelta(minutes=10))
def champions() -> dict[str, Any]:
    """Report the champion of each family; running services follow the ``champion`` alias."""
    from pipeline import stages

    return stages.champions(runtime_settings())
