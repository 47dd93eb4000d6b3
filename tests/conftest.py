"""Fixtures shared by every test area: isolated data folders, generated data, the real dataset."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
from fixed_dates import END_DATE
from needs_servers import put_servers_on_path

from mercato.settings import TELEMETRY_OFF, Settings, get_settings, real_data_path

# No test may reach the network: switch every tool's telemetry off before anything imports them.
os.environ.update(TELEMETRY_OFF)

put_servers_on_path()


def pytest_report_header(config: pytest.Config) -> str:
    """Say at the top of the run which servers the server tests use, or why they skip."""
    from devtools.servers import ensure, summary

    return summary(ensure(install=False))


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose data folder is a fresh temporary directory (also set in the environment)."""
    home = tmp_path / "home"
    monkeypatch.setenv("MERCATO_HOME", str(home))
    monkeypatch.delenv("MERCATO_MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MERCATO_ONLINE_STORE", raising=False)
    value = get_settings()
    value.ensure_dirs()
    return value


@pytest.fixture(scope="session")
def small_orders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated batch (Parquet) shared by the tests that only read it."""
    from warehouse.synthetic import write_orders

    path = tmp_path_factory.mktemp("orders") / "orders.parquet"
    return write_orders(path, n_customers=300, n_products=120, days=240, seed=7, end_date=END_DATE)


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The UCI Online Retail file beside the checkout; skips where it is absent."""
    path = real_data_path()
    if not path.is_file():
        pytest.skip(f"real dataset not found at {path} (set MERCATO_REAL_DATA)")
    return path


@pytest.fixture(scope="session")
def pipeline_home(tmp_path_factory: pytest.TempPathFactory, small_orders: Path) -> Settings:
    """A data folder where the whole pipeline has run once on the small generated batches of every
    source delivered to its landing folder: orders, reviews of those orders' products, a
    campaign sent to their customers, browsing sessions, ad impressions, star ratings of the
    orders' products by some of their customers and support messages quoting those orders'
    invoices (so every family has data).

    Session-scoped because a full run costs tens of seconds; tests that read it must not write
    to it (copy it first if they need to change anything).
    """
    import shutil

    import pandas as pd

    from pipeline.stages import run_all
    from warehouse.synthetic_ads import write_impressions
    from warehouse.synthetic_campaigns import order_customers, write_campaigns
    from warehouse.synthetic_ratings import shop_ratings
    from warehouse.synthetic_reviews import write_reviews
    from warehouse.synthetic_sessions import write_sessions
    from warehouse.synthetic_support import write_messages

    home = tmp_path_factory.mktemp("pipeline") / "home"
    value = dataclasses.replace(get_settings(), home=home, mlflow_tracking_uri="")
    value.ensure_dirs()
    shutil.copy(small_orders, value.landing_dir / small_orders.name)
    orders = pd.read_parquet(small_orders)
    write_reviews(
        value.landing_dir / "reviews.parquet",
        orders=orders,
        end_date=END_DATE,
        seed=7,
        review_rate=0.4,
    )
    write_campaigns(
        value.landing_dir / "campaigns.csv",
        end_date=END_DATE,
        n_customers=6000,
        customers=order_customers(orders),
        seed=7,
    )
    write_sessions(value.landing_dir / "sessions.csv", 2000, seed=7, end_date=END_DATE)
    write_impressions(value.landing_dir / "ad_impressions.csv", 8000, seed=7, end_date=END_DATE)
    shop_ratings(value.landing_dir / "ratings.csv", orders, end_date=END_DATE, seed=7, n_users=120)
    write_messages(value.landing_dir / "support.csv", 400, seed=7, end_date=END_DATE, orders=orders)
    run_all(value, None, progress=lambda _: None)
    return value


@dataclasses.dataclass(frozen=True)
class PipelineRun:
    """A data folder where some stages ran, with the summaries those stages returned."""

    settings: Settings
    summaries: dict[str, dict[str, Any]]


@pytest.fixture(scope="session")
def real_pipeline(tmp_path_factory: pytest.TempPathFactory, real_data: Path) -> PipelineRun:
    """The real file ingested and transformed once per session (~35 s), with both summaries.

    Tests that need the real marts read them from here instead of cleaning the file again:
    the cleaning rules live in ``dbt_project/`` only. Tests must not write to this data folder
    (its warehouse is shared by the whole session); copy it first to change anything.
    """
    from pipeline import stages

    home = tmp_path_factory.mktemp("real-warehouse") / "home"
    value = dataclasses.replace(get_settings(), home=home, mlflow_tracking_uri="")
    value.ensure_dirs()
    with pytest.MonkeyPatch.context() as patch:
        # the stages point this process's MLflow at their home; give it back afterwards
        patch.setenv("MLFLOW_TRACKING_URI", value.tracking_uri)
        summaries = {"ingest": stages.ingest(value, real_data)}
        summaries["transform"] = stages.transform(value)
    return PipelineRun(value, summaries)


@pytest.fixture(scope="session")
def real_warehouse(real_pipeline: PipelineRun) -> Settings:
    """Settings of a data folder whose warehouse holds the real file's raw tables and marts.

    Read only: tests must not write to it (see ``real_pipeline``).
    """
    return real_pipeline.settings


@pytest.fixture(scope="session")
def real_features(real_warehouse: Settings) -> Settings:
    """``real_warehouse`` with its features materialized in Feast (~10 s more), for the model
    code that builds training sets through the feature store. Read only, like the warehouse."""
    from pipeline import stages

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", real_warehouse.tracking_uri)
        stages.features(real_warehouse)
    return real_warehouse
