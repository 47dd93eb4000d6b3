"""Fixtures of the model tests (generated data, and the real dataset where present)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from model_data import customer_snapshots, order_lines_to_interactions

from mercato.settings import Settings


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, fully migrated MLflow SQLite database (creating one costs ~10 s)."""
    import dataclasses

    from mercato.settings import get_settings
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
def synthetic_raw() -> pd.DataFrame:
    from mercato.synthetic import generate_orders

    return generate_orders(n_customers=400, n_products=150, days=365, seed=11)


@pytest.fixture(scope="session")
def synthetic_interactions(synthetic_raw: pd.DataFrame) -> pd.DataFrame:
    return order_lines_to_interactions(synthetic_raw)


@pytest.fixture(scope="session")
def synthetic_snapshots(synthetic_raw: pd.DataFrame) -> pd.DataFrame:
    return customer_snapshots(synthetic_raw)


@pytest.fixture(scope="session")
def real_raw(real_data: Path) -> pd.DataFrame:
    return pd.read_parquet(real_data)
