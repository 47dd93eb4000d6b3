"""What the Mercato DAGs share: the assets they hand over, task defaults and the stage tasks.

Each task is a thin wrapper around one function of ``mercato.pipeline`` (the same functions the
``mercato`` CLI calls), so a run with or without Airflow does the same work. The stage DAGs and
``mercato_pipeline`` build their graphs from these tasks; no business logic lives in ``dags/``.

Everything heavy (the pipeline's libraries) is imported inside the tasks, so parsing a DAG file
stays cheap: at parse time this module only takes ``DBT_LAYERS`` from ``mercato.pipeline``,
whose top level imports nothing but the standard library and ``mercato.settings``.
``.airflowignore`` keeps Airflow from parsing this module as a DAG file of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, Param, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

# Cheap by design: mercato.pipeline imports only the standard library and the settings at the
# top level; every heavy library is imported inside its stages.
from mercato.pipeline import DBT_LAYERS

if TYPE_CHECKING:
    from mercato.settings import Settings

OWNER = "mercato"

#: One-slot pool: DuckDB allows one writer process, so every task that writes the warehouse
#: (or reads it while a writer might be active in another run) takes the single slot.
DUCKDB_POOL = "mercato_duckdb"
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

FAMILIES = ("segmentation", "recommendation", "propensity")

# -- assets: what each stage hands to the next -------------------------------------------------
RAW = Asset(name="mercato_raw", uri="mercato://warehouse/raw.order_lines", group="mercato")
MARTS = Asset(name="mercato_marts", uri="mercato://warehouse/marts", group="mercato")
FEATURES = Asset(
    name="mercato_features", uri="mercato://feast/customer_and_product", group="mercato"
)
MODELS = Asset(name="mercato_models", uri="mercato://mlflow/champions", group="mercato")

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

    from mercato import pipeline

    data = get_current_context()["params"].get("data")
    with gate_fails_task():
        return pipeline.ingest(runtime_settings(), Path(data) if data else None)


@task(pool=DUCKDB_POOL, execution_timeout=timedelta(minutes=30))
def dbt_layer(layer: str, finish: bool = False) -> dict[str, Any]:
    """``dbt build --select <layer>``: one dbt layer's models with their tests.

    With ``finish`` it also returns the row count of every table and writes dbt's docs.
    """
    from mercato import pipeline

    return pipeline.transform(runtime_settings(), layer, finish=finish)


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
def validate_marts() -> dict[str, Any]:
    """The GX mart gate; a critical failure fails the task and stops everything downstream."""
    from mercato import pipeline

    with gate_fails_task():
        return pipeline.validate_marts(runtime_settings())


@task(pool=DUCKDB_POOL, execution_timeout=timedelta(minutes=30))
def materialize_features() -> dict[str, Any]:
    """Export the feature marts, ``feast apply`` and materialize the online store."""
    from mercato import pipeline

    return pipeline.materialize_features(runtime_settings())


@task(execution_timeout=timedelta(minutes=60))
def train(family: str) -> dict[str, Any]:
    """Train, evaluate, register and gate one model family (three run side by side)."""
    from mercato import pipeline

    return pipeline.train(runtime_settings(), family)


def train_all() -> list[Any]:
    """One training task per model family, each named ``train_<family>``."""
    return [train.override(task_id=f"train_{family}")(family) for family in FAMILIES]


@task(execution_timeout=timedelta(minutes=5))
def collect_models(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Gather the three training summaries into one (and emit the models asset when asked)."""
    return {family: result for family, result in zip(FAMILIES, results, strict=True)}


@task(execution_timeout=timedelta(minutes=10))
def deploy() -> dict[str, Any]:
    """Report the champion of each family; running services follow the ``champion`` alias."""
    from mercato import pipeline

    return pipeline.deploy(runtime_settings())
