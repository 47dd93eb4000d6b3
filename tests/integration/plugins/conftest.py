"""Fixtures of the plug-in tests: the toy family and toy source of ``tests/toys`` made visible
the way a user adds theirs (``MERCATO_EXTRA_*`` and ``PYTHONPATH``), on a copy of a data folder
where the pipeline ran."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mercato.settings import Settings

TOYS = Path(__file__).resolve().parents[2] / "toys"


@pytest.fixture(scope="module")
def toy_env(
    pipeline_home: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """Settings (and this process's environment) with the toy family and source added."""
    dest = tmp_path_factory.mktemp("toys") / "home"
    shutil.copytree(pipeline_home.home, dest, ignore=shutil.ignore_patterns("bentoml", "serving"))
    settings = dataclasses.replace(
        pipeline_home,
        home=dest,
        extra_families={"toy": "toy_family"},
        extra_sources={"toy_ratings": "toy_source"},
        model_poll_seconds=0.0,
    )
    with pytest.MonkeyPatch.context() as patch:
        for key, value in settings.to_env().items():
            patch.setenv(key, value)
        patch.setenv("PYTHONPATH", os.pathsep.join([str(TOYS), os.environ.get("PYTHONPATH", "")]))
        patch.syspath_prepend(str(TOYS))
        yield settings
