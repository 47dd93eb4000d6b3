"""Fixtures for the Airflow tests: a throwaway Airflow home and metadata DB, and DAG runs.

Airflow reads ``AIRFLOW_HOME`` and its configuration when it is first imported, so this conftest
points it at a temporary folder at import time, before any test module imports Airflow; the
session fixture then refuses to reset a metadata DB that is not inside that folder.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dag_helpers import DAGS_FOLDER, DUCKDB_POOL, DagRunResult, run_dag

from mercato.settings import Settings, get_settings

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="mercato-airflow-test-"))
if "airflow" not in sys.modules:
    os.environ.update(
        {
            "AIRFLOW_HOME": str(_AIRFLOW_HOME),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
            "AIRFLOW__COSMOS__CACHE_DIR": str(_AIRFLOW_HOME / "cosmos_cache"),
        }
    )


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[Path]:
    """A fresh SQLite metadata DB in the temporary Airflow home, with the DuckDB pool."""
    from airflow import settings as airflow_settings
    from airflow.models.pool import Pool
    from airflow.utils.db import resetdb

    if str(_AIRFLOW_HOME) not in str(airflow_settings.SQL_ALCHEMY_CONN):
        pytest.fail(
            "Airflow was imported before tests/dags/conftest.py could point it at a temporary "
            f"home; refusing to reset {airflow_settings.SQL_ALCHEMY_CONN}"
        )
    resetdb()
    Pool.create_or_update_pool(DUCKDB_POOL, 1, "test pool", include_deferred=False)
    yield _AIRFLOW_HOME
    shutil.rmtree(_AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def dagbag(airflow_db: Path) -> Any:
    """Every DAG in ``dags/``, parsed the way the dag-processor parses them."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER), safe_mode=True)


@pytest.fixture(scope="session")
def pipeline_run(
    dagbag: Any, small_orders: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, DagRunResult]:
    """``mercato_pipeline`` run once with ``dag.test()`` on the small generated batch.

    Tests that change this data folder must leave it as a user would (a new batch, a rejected
    batch), never break it.
    """
    home = tmp_path_factory.mktemp("airflow-pipeline") / "home"
    settings = dataclasses.replace(get_settings(), home=home, mlflow_tracking_uri="")
    settings.ensure_dirs()
    shutil.copy(small_orders, settings.landing_dir / small_orders.name)
    return settings, run_dag(dagbag, "mercato_pipeline", settings)
