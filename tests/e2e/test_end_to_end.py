"""The whole platform through its front door: `mercato run` twice, then the service over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from mercato.names import BUILTIN_FAMILIES
from mercato.settings import REPO_ROOT, get_settings

pytestmark = pytest.mark.slow


def _mercato(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MERCATO_HOME": str(home)}
    env.pop("MERCATO_MLFLOW_TRACKING_URI", None)
    env.pop("MERCATO_ONLINE_STORE", None)
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_run_twice_then_serve(
    tmp_path: Path, small_orders: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from serving.launch import free_port, start_background
    from warehouse.reader import read_table, table_hashes

    home = tmp_path / "home"
    first = _mercato(["run", "--data", str(small_orders)], home)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Mercato run summary" in first.stdout
    # only orders are delivered: the families of other sources say they have nothing to train on
    others = {
        "sentiment",
        "uplift",
        "session_intent",
        "ad_response",
        "rating_recommendation",
        "intent",
    }
    for family in BUILTIN_FAMILIES:
        expected = f"{family}: skipped: no data" if family in others else f"{family}: mercato_"
        assert expected in first.stdout, first.stdout

    monkeypatch.setenv("MERCATO_HOME", str(home))
    settings = get_settings()
    before = table_hashes(settings)
    assert before["fct_order_lines"] and before["customer_features"]

    second = _mercato(["run", "--data", str(small_orders)], home)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "(duplicate)" in second.stdout  # the same batch is not loaded twice
    assert table_hashes(settings) == before

    customers = read_table(settings, "dim_customers", columns=["customer_id", "n_orders"])
    customer = str(customers.sort_values("n_orders", ascending=False).iloc[0, 0])
    with (
        start_background(settings, port=free_port()) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        rec = client.post("/recommend", json={"customer_id": customer, "k": 5})
        assert rec.status_code == 200, rec.text
        body = rec.json()
        assert len(body["items"]) == 5 and body["cold_start"] is False
        assert body["model_version"]

        seg = client.post("/segment", json={"customer_id": customer})
        assert seg.status_code == 200, seg.text
        assert seg.json()["known_customer"] is True
        assert isinstance(seg.json()["segment"], int)

        prop = client.post("/propensity", json={"customer_id": customer})
        assert prop.status_code == 200, prop.text
        assert 0.0 <= prop.json()["probability"] <= 1.0

        info = client.post("/model_info", json={}).json()
        served = {m["name"]: m["version"] for m in info["models"]}
        from models.family import families

        served_families = {f.registered_model for f in families() if f.api}
        assert set(served) == served_families, "every family with endpoints is listed"
        assert {n for n, v in served.items() if v} >= {
            "mercato_segmentation",
            "mercato_recommender",
            "mercato_propensity",
        }, served


def test_cli_reports_a_missing_file_clearly(tmp_path: Path) -> None:
    result = _mercato(["run", "--data", str(tmp_path / "nope.csv")], tmp_path / "home")
    assert result.returncode == 1
    assert "no data file at" in result.stderr and "nope.csv" in result.stderr
