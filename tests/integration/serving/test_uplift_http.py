"""``/uplift``, ``/uplift_batch`` and ``/campaign_plan`` over HTTP on a running ``bentoml serve``
of the uplift champion (``uplift_home``), against the same model loaded in this process."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from mercato.settings import Settings

API_KEY = "uplift-tests-key"
CAMPAIGN = "spring_newsletter"  # the campaign of the uplift_home fixture


@pytest.fixture(scope="module")
def home(uplift_home: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    dest = tmp_path_factory.mktemp("uplift-serving") / "home"
    shutil.copytree(uplift_home.home, dest)
    return dataclasses.replace(uplift_home, home=dest, api_key=API_KEY)


@pytest.fixture(scope="module")
def model(home: Settings):
    from models import registry
    from models.uplift import MODEL_NAME

    return registry.load_champion(home, MODEL_NAME)


@pytest.fixture(scope="module")
def client(home: Settings) -> Iterator[httpx.Client]:
    from serving.launch import free_port, start_background

    proc = start_background(home, port=free_port(), timeout=300)
    try:
        with httpx.Client(base_url=proc.url, headers={"X-API-Key": API_KEY}, timeout=30) as c:
            yield c
    finally:
        proc.stop()


def test_uplift_answers_each_arm_with_the_served_model(client, model) -> None:
    served, version = model
    customer = str(served.customer_ids[5])
    response = client.post("/uplift", json={"customer_id": customer, "campaign": CAMPAIGN})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = served.uplift(customer, CAMPAIGN)
    assert body["known_customer"] is True and body["model_version"] == version
    assert set(body["uplift"]) == {"mens_e_mail", "womens_e_mail"}
    for arm, value in expected.items():
        assert body["uplift"][arm] == pytest.approx(value)
    assert body["best_treatment"] == max(expected, key=expected.get)


def test_uplift_batch_keeps_order_and_marks_unknown_customers(client, model) -> None:
    served, _ = model
    ids = [str(c) for c in served.customer_ids[:3]] + ["no-such-customer"]
    response = client.post("/uplift_batch", json={"customer_ids": ids, "campaign": CAMPAIGN})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["customer_id"] for r in results] == ids
    assert [r["known_customer"] for r in results] == [True, True, True, False]
    assert results[-1]["uplift"] is None
    values, _ = served.uplift_many(ids[:3], CAMPAIGN)
    got = np.array([[r["uplift"][a] for a in served.treatments(CAMPAIGN)] for r in results[:3]])
    assert np.allclose(got, values)


def test_unknown_campaign_is_404_naming_the_known_ones(client, model) -> None:
    served, _ = model
    for path, body in (
        ("/uplift", {"customer_id": str(served.customer_ids[0]), "campaign": "winter"}),
        ("/uplift_batch", {"customer_ids": ["1"], "campaign": "winter"}),
        (
            "/campaign_plan",
            {
                "campaign": "winter",
                "budget": 10.0,
                "cost_per_contact": 1.0,
                "value_per_conversion": 5.0,
            },
        ),
    ):
        response = client.post(path, json=body)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["field"] == "campaign"
        assert CAMPAIGN in response.json()["error"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/uplift", {"campaign": CAMPAIGN}, "customer_id"),
        ("/uplift", {"customer_id": "1", "campaign": ""}, "campaign"),
        ("/uplift_batch", {"customer_ids": [], "campaign": CAMPAIGN}, "customer_ids"),
        (
            "/campaign_plan",
            {"campaign": CAMPAIGN, "budget": -1.0, "cost_per_contact": 1.0},
            "budget",
        ),
        (
            "/campaign_plan",
            {"campaign": CAMPAIGN, "budget": 5.0, "cost_per_contact": "x"},
            "cost_per_contact",
        ),
    ],
)
def test_invalid_input_is_400_naming_the_field(client, path, body, field) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field


def test_the_plan_over_http_is_the_planners_and_refuses_a_budget_below_one_contact(
    client, model
) -> None:
    from models.planning import plan_campaign

    served, version = model
    body = {
        "campaign": CAMPAIGN,
        "budget": 40.0,
        "cost_per_contact": 0.5,
        "value_per_conversion": 40.0,
        "audience_limit": 10,
    }
    response = client.post("/campaign_plan", json=body)
    assert response.status_code == 200, response.text
    plan = response.json()
    expected = plan_campaign(served, CAMPAIGN, 40.0, 0.5, 40.0)
    assert plan["n_contacts"] == expected.n_contacts <= 80
    assert plan["spent"] <= 40.0
    assert len(plan["audience"]) == 10 and plan["audience_truncated"] is True
    assert [a["customer_id"] for a in plan["audience"]] == [c for c, *_ in expected.audience[:10]]
    assert plan["expected_profit"] == pytest.approx(expected.expected_profit)
    assert plan["model_version"] == version
    refused = client.post("/campaign_plan", json={**body, "budget": 0.25})
    assert refused.status_code == 400
    assert refused.json()["field"] == "budget"
    assert "buys no contact" in refused.json()["error"]
