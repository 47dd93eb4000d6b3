"""A family declared in the test tree only is trained, listed, scheduled and served.

``tests/toys/toy_family.py`` declares ``FAMILY`` and its endpoint; nothing shipped names it.
The DAG side is in ``tests/integration/dags/test_dagbag.py`` (it needs that folder's Airflow).
"""

from __future__ import annotations

import json

import httpx
import pytest

from mercato.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(toy_env: Settings) -> dict:
    """The toy family trained once through the pipeline's stage function."""
    from pipeline import stages

    return stages.train(toy_env, "toy")


def test_the_pipeline_trains_registers_and_gates_the_toy(toy_env: Settings, trained: dict):
    from mercato.names import family_names
    from models import registry

    assert family_names(toy_env)[-1] == "toy"
    assert trained["family"] == "toy" and trained["name"] == "mercato_toy"
    assert trained["promoted"] and trained["decision"] == "no champion yet"
    assert trained["metrics"]["neg_mae"] < 0
    assert registry.champions(toy_env)["mercato_toy"] == trained["version"]
    tags = registry.client(toy_env).get_model_version("mercato_toy", trained["version"]).tags
    assert tags["gate.decision"] == "promoted"


def test_the_cli_lists_and_trains_the_toy(
    toy_env: Settings, trained: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline import cli

    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    assert "toy" in capsys.readouterr().out
    assert cli.main(["train", "toy"]) == 0
    again = json.loads(capsys.readouterr().out)["toy"]
    assert again["version"] == trained["version"] and "unchanged" in again["decision"]


def test_the_service_serves_the_toy_beside_the_others(toy_env: Settings, trained: dict) -> None:
    from serving.launch import free_port, start_background

    port = free_port()
    with (
        start_background(toy_env, port=port) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        info = client.post("/model_info", json={}).json()
        served = {m["name"]: m["version"] for m in info["models"]}
        assert served["mercato_toy"] == trained["version"]
        assert {"mercato_recommender", "mercato_segmentation", "mercato_propensity"} <= set(served)
        answer = client.post("/toy_spend", json={"country": "United Kingdom"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["model_version"] == trained["version"]
        assert answer.json()["expected_spend"] > 0
        assert client.post("/toy_spend", json={"country": 3}).status_code == 400
        spec = client.get("/docs.json").json()
        assert "toy" in {t["name"] for t in spec["tags"]}
        assert spec["paths"]["/toy_spend"]["post"]["tags"] == ["toy"]
        assert spec["paths"]["/toy_spend"]["post"]["summary"]
