"""Parallel first clients on a new data home: MLflow's SQLite schema is migrated exactly once.

Airflow starts the training tasks of a fresh data home side by side; each opens the tracking
database, and without ``models.registry``'s lock they all began MLflow's migrations at once and
left the database half-migrated (``table _alembic_tmp_tags already exists`` on every retry).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

OPEN_CLIENT = """
import sys, time
from pathlib import Path
import mlflow
from mercato.settings import get_settings
from models.registry import client
Path(sys.argv[1] + ".ready").touch()
while not Path(sys.argv[2]).exists():  # all four open the database together, after the imports
    time.sleep(0.005)
client(get_settings()).search_experiments()
"""


def test_parallel_first_clients_migrate_the_schema_once(tmp_path: Path) -> None:
    env = {**os.environ, "MERCATO_HOME": str(tmp_path / "home"), "MERCATO_MLFLOW_TRACKING_URI": ""}
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_CLIENT, str(tmp_path / str(i)), str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    deadline = time.monotonic() + 240
    while len(list(tmp_path.glob("*.ready"))) < 4 and time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            break
        time.sleep(0.05)
    go.touch()
    results = [(p.wait(timeout=300), p.stderr.read()) for p in processes]
    assert [code for code, _ in results] == [0] * 4, "\n".join(err[-2000:] for _, err in results)
    databases = list((tmp_path / "home").rglob("*.db"))
    assert databases, "no tracking database was written"
    with sqlite3.connect(databases[0]) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert not {t for t in tables if t.startswith("_alembic_tmp")}, tables
    assert {"experiments", "runs", "registered_models", "model_versions"} <= tables
