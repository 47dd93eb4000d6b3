"""Shared by the Airflow tests: DAG ids, running a DAG with ``dag.test()``, registry reads.

A plain module (not the conftest) so test modules can import it; its name is unique across the
test tree because the test folders are not packages.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mercato.names import BUILTIN_FAMILIES
from mercato.settings import REPO_ROOT, Settings
from models.family import get_family

DAGS_FOLDER = REPO_ROOT / "dags"
DAG_IDS = (
    "mercato_ingest",
    "mercato_transform",
    "mercato_features",
    "mercato_train",
    "mercato_champions",
    "mercato_pipeline",
    "mercato_monitor",
)
DUCKDB_POOL = "mercato_duckdb"
#: The families the DAGs train, read from the one catalogue (a new family needs no edit here).
FAMILIES = tuple(BUILTIN_FAMILIES)
#: The dbt tasks, one per layer, in build order.
DBT_TASKS = ("dbt_staging", "dbt_intermediate", "dbt_marts")
MODEL_NAMES = tuple(get_family(f).registered_model for f in FAMILIES)
#: Families that train on a source besides orders: the DAG tests deliver orders only, so these
#: are skipped ("no data yet") and register nothing.
OTHER_SOURCE_FAMILIES = (
    "sentiment",
    "uplift",
    "session_intent",
    "ad_response",
    "rating_recommendation",
    "intent",
)
#: The models the DAG runs register: those of the families that train on orders.
TRAINED_MODELS = tuple(
    get_family(f).registered_model for f in FAMILIES if f not in OTHER_SOURCE_FAMILIES
)
#: The models whose first version beats its baseline on the small generated batch. The
#: customer-value families do not: BG/NBD ties "each customer repeats their rate" and the churn
#: model trails the recency rule there (docs/customer_value.md), so their gate refuses.
FIRST_CHAMPIONS = tuple(
    name for name in TRAINED_MODELS if name not in ("mercato_clv", "mercato_churn")
)
#: Tasks of ``mercato_pipeline`` after the ingest task, in order.
AFTER_INGEST = (
    *DBT_TASKS,
    "validate",
    "features",
    *(f"train_{f}" for f in FAMILIES),
    "champions",
)


@dataclass
class DagRunResult:
    """What a ``dag.test()`` run left behind: its state, each task's state and return value."""

    state: str
    task_states: dict[str, str]
    results: dict[str, Any]


def run_dag(dagbag: Any, dag_id: str, settings: Settings, **conf: Any) -> DagRunResult:
    """Run one DAG in-process with ``dag.test()`` against the data folder of ``settings``.

    ``MERCATO_HOME`` is set only for the run (tasks read it through ``get_settings()``), and the
    environment the tasks changed (MLflow URI, telemetry) is restored afterwards.
    """
    saved = dict(os.environ)
    os.environ["MERCATO_HOME"] = str(settings.home)
    for name in ("MERCATO_MLFLOW_TRACKING_URI", "MERCATO_ONLINE_STORE"):
        os.environ.pop(name, None)
    try:
        run = dagbag.dags[dag_id].test(run_conf=conf or None)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    tis = run.get_task_instances()
    return DagRunResult(
        state=str(run.state),
        task_states={ti.task_id: str(ti.state) for ti in tis},
        results={ti.task_id: ti.xcom_pull(task_ids=ti.task_id) for ti in tis},
    )


def model_versions(settings: Settings) -> dict[str, list[Any]]:
    """Every registered version of each Mercato model, oldest first."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    found: dict[str, list[Any]] = {}
    for name in MODEL_NAMES:
        versions = client.search_model_versions(f"name='{name}'")
        found[name] = sorted(versions, key=lambda v: int(v.version))
    return found


def champions(settings: Settings) -> dict[str, str | None]:
    """The version each model's ``champion`` alias points to (None when it has none)."""
    from models import registry

    return dict(registry.champions(settings))


def write_bad_batch(good: Path, out: Path) -> Path:
    """A copy of a good batch that the raw gate must reject: future dates, empty stock codes."""
    import pandas as pd

    frame = pd.read_parquet(good) if good.suffix == ".parquet" else pd.read_csv(good)
    frame = frame.astype({"InvoiceDate": "string", "StockCode": "string"})
    frame.loc[frame.index[:25], "InvoiceDate"] = "2099-01-01 10:00:00"
    frame.loc[frame.index[25:50], "StockCode"] = None
    frame.to_csv(out, index=False)
    return out
