"""``MERCATO_SERVE_WORKERS``: how many worker processes the BentoML service runs (issue 19)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mercato.settings import REPO_ROOT, get_settings


def test_one_worker_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MERCATO_SERVE_WORKERS", raising=False)
    assert get_settings().serve_workers == 1
    monkeypatch.setenv("MERCATO_SERVE_WORKERS", "")
    assert get_settings().serve_workers == 1


def test_a_worker_count_is_read_and_handed_to_children(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MERCATO_SERVE_WORKERS", " 3 ")
    settings = get_settings()
    assert settings.serve_workers == 3
    assert settings.to_env()["MERCATO_SERVE_WORKERS"] == "3"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("0", "must be 1 or more"),
        ("-2", "must be 1 or more"),
        ("two", "is not a whole number"),
        ("1.5", "is not a whole number"),
    ],
)
def test_a_bad_worker_count_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, raw: str, problem: str
) -> None:
    monkeypatch.setenv("MERCATO_SERVE_WORKERS", raw)
    with pytest.raises(ValueError, match=f"MERCATO_SERVE_WORKERS='{raw}' {problem}"):
        get_settings()


def test_the_service_runs_that_many_workers(tmp_path) -> None:
    """The ``@bentoml.service`` config BentoML's arbiter reads carries the setting (a fresh
    interpreter, because the service module reads its settings when imported)."""
    env = {**os.environ, "MERCATO_HOME": str(tmp_path), "MERCATO_SERVE_WORKERS": "2"}
    out = subprocess.run(
        [sys.executable, "-c", "import serving.service as s; print(s.Mercato.config['workers'])"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "2"
