"""Fixtures of the model tests: generated data run through the warehouse, and the real marts
(``real_warehouse`` and ``real_features`` in the top-level conftest) where the file is present."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pandas as pd
import pytest
from fixed_dates import END_DATE
from model_data import mart_snapshots

from mercato.settings import Settings, get_settings


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, fully migrated MLflow SQLite database (creating one costs ~10 s)."""
    from models.registry import client

    home = tmp_path_factory.mktemp("mlflow-template")
    template = dataclasses.replace(get_settings(), home=home, mlflow_tracking_uri="")
    client(template).search_experiments()
    return template.mlflow_dir / "mlflow.db"


@pytest.fixture
def settings(settings: Settings, mlflow_template: Path) -> Settings:
    """The shared isolated settings, with a fresh copy of the migrated MLflow database."""
    settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(mlflow_template, settings.mlflow_dir / "mlflow.db")
    return settings


@pytest.fixture(scope="session")
def synthetic_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A generated year of orders ingested and transformed once: the marts the synthetic model
    tests read (through the same dbt models as real data). Tests must not write to it."""
    from pipeline import stages
    from warehouse.synthetic import write_orders

    root = tmp_path_factory.mktemp("synthetic-warehouse")
    orders = write_orders(
        root / "orders.parquet",
        n_customers=400,
        n_products=150,
        days=365,
        seed=11,
        end_date=END_DATE,
    )
    value = dataclasses.replace(get_settings(), home=root / "home", mlflow_tracking_uri="")
    value.ensure_dirs()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", value.tracking_uri)
        stages.ingest(value, orders)
        stages.transform(value)
    return value


@pytest.fixture(scope="session")
def synthetic_interactions(synthetic_warehouse: Settings) -> pd.DataFrame:
    from models.recommendation import build_recommendation_data

    return build_recommendation_data(synthetic_warehouse)


@pytest.fixture(scope="session")
def synthetic_snapshots(synthetic_warehouse: Settings) -> pd.DataFrame:
    return mart_snapshots(synthetic_warehouse)
