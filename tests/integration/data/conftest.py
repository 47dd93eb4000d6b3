"""Fixtures for the data layer: small generated batches and a warehouse built once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from fixed_dates import END_DATE

from data.test_bad_batches import REJECTED, BadBatch
from mercato.settings import Settings, get_settings

#: Small enough that dbt and both gates run in seconds, large enough for every mart to fill.
SMALL = {"n_customers": 60, "n_products": 40, "days": 90, "seed": 11}


def home_settings(home: Path, monkeypatch: pytest.MonkeyPatch | None = None) -> Settings:
    """Settings for ``home``, with ``MERCATO_HOME`` pointing at it."""
    if monkeypatch is not None:
        monkeypatch.setenv("MERCATO_HOME", str(home))
        value = get_settings()
    else:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MERCATO_HOME", str(home))
            value = get_settings()
    value.ensure_dirs()
    return value


@pytest.fixture(scope="session")
def small_frame() -> pd.DataFrame:
    """A small generated batch in the UCI schema, as the raw file has it."""
    from warehouse.synthetic import generate_orders

    return generate_orders(**SMALL, end_date=END_DATE)


@pytest.fixture(scope="session")
def built_home(tmp_path_factory: pytest.TempPathFactory, small_frame: pd.DataFrame) -> Path:
    """A data folder with one loaded batch, dbt's marts built and the mart gate passed once.

    Read-only for tests: use ``warehouse_settings`` for a private copy.
    """
    from pipeline import stages
    from warehouse import dbt, landing

    home = tmp_path_factory.mktemp("built") / "home"
    settings = home_settings(home)
    path = tmp_path_factory.mktemp("batch") / "first.csv"
    small_frame.to_csv(path, index=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MERCATO_HOME", str(home))
        landing.ingest_file(settings, path)
        dbt.run_dbt(settings, ["build"])
        stages.validate(settings)
    return home


@pytest.fixture
def warehouse_settings(
    built_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """A private copy of the built data folder, selected through ``MERCATO_HOME``."""
    home = tmp_path / "home"
    shutil.copytree(built_home, home)
    return home_settings(home, monkeypatch)


@pytest.fixture(params=REJECTED, ids=[name.split(".")[0] for name, _, _ in REJECTED])
def bad_batch(request: pytest.FixtureRequest, small_frame: pd.DataFrame) -> BadBatch:
    """Each bad batch of the catalogue in turn (a test using it runs once per batch)."""
    name, make, expected = request.param
    return BadBatch(name, make(small_frame), expected)
