"""``/customer_value`` and ``/churn_risk`` over HTTP on ``bentoml serve`` (the session server).

On the small generated batch the gate refuses both customer-value families (BG/NBD ties the
calibration-rate baseline, the churn model trails the recency rule: docs/customer_value.md), so
the serving fixtures make their registered versions the champions by hand, as ``mercato promote``
does; the module waits until the server (following the alias every second) serves them. Expected
answers come from the same versions loaded in this process.
"""

from __future__ import annotations

import math
import time

import httpx
import pytest
from served_models import served_champions

from models.churn import MODEL_NAME as CHURN
from models.clv import MODEL_NAME as CLV
from models.segmentation import MODEL_NAME as SEGMENTATION

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(serving_home, core, server, api_key) -> dict:
    """Both customer-value models as champions, in the server and in ``core``."""
    wanted = served_champions(serving_home)
    deadline = time.monotonic() + 60
    while True:
        info = httpx.post(
            f"{server.url}/model_info", json={}, headers={"X-API-Key": api_key}, timeout=30
        ).json()
        if {m["name"]: m["version"] for m in info["models"]} == wanted:
            break
        assert time.monotonic() < deadline, f"the server did not load {wanted}: {info}"
        time.sleep(0.5)
    core.tracker.refresh()
    return {name: core.tracker.current.get(name) for name in (CLV, CHURN, SEGMENTATION)}


def online_features(settings, customer_id: str) -> dict[str, float]:
    from features.online import OnlineFeatureReader

    values = OnlineFeatureReader(settings).get_customer_features([customer_id])[customer_id]
    return {k: (0.0 if v is None or math.isnan(v) else v) for k, v in values.items()}


def test_known_customer_gets_value_and_churn_risk(client, served, ids, serving_home) -> None:
    clv_model, churn_model = served[CLV], served[CHURN]
    customer = ids.history_customer
    body = client.post("/customer_value", json={"customer_id": customer}).json()
    assert body["known_customer"] is True
    expected = clv_model.model.value(customer)
    for key in ("expected_purchases", "probability_active", "expected_spend", "clv"):
        assert body[key] == pytest.approx(expected[key]), key
    assert body["horizon_days"] == 365 and body["annual_discount_rate"] == pytest.approx(0.1)
    risk = churn_model.model.predict_proba(online_features(serving_home, customer))
    assert body["churn_risk"] == pytest.approx(risk)
    assert body["churn_band"] == churn_model.model.band(risk)
    assert body["churn_horizon_days"] == 90
    assert (body["model_version"], body["churn_model_version"]) == (
        clv_model.version,
        churn_model.version,
    )
    # the id may be sent as a number
    assert client.post("/customer_value", json={"customer_id": int(customer)}).json() == body


def test_unknown_customer_gets_the_documented_default(client, served, ids) -> None:
    body = client.post("/customer_value", json={"customer_id": ids.unknown_customer}).json()
    default = served[CLV].model.new_customer
    assert body["known_customer"] is False
    assert body["clv"] == pytest.approx(default["clv"]) and body["clv"] > 0
    assert body["probability_active"] == 1.0
    assert (body["churn_risk"], body["churn_band"]) == (None, None)
    churn = client.post("/churn_risk", json={"customer_id": ids.unknown_customer}).json()
    assert (churn["known_customer"], churn["churn_risk"], churn["band"]) == (False, None, None)


def test_batch_answers_in_order_like_single_calls(client, served, ids) -> None:
    customers = [ids.unknown_customer, *ids.online_customers[:3]]
    body = client.post("/customer_value_batch", json={"customer_ids": customers}).json()
    assert [r["customer_id"] for r in body["results"]] == customers
    single = client.post("/customer_value", json={"customer_id": customers[1]}).json()
    batched = dict(body["results"][1])
    # one row or four through the same matrix product: equal up to the last bit
    assert batched.pop("churn_risk") == pytest.approx(single.pop("churn_risk"), rel=1e-12)
    assert batched == single
    risks = client.post("/churn_risk_batch", json={"customer_ids": customers}).json()
    assert [r["churn_risk"] for r in risks["results"]] == [r["churn_risk"] for r in body["results"]]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/customer_value", {}, "customer_id"),
        ("/customer_value", {"customer_id": ["1"]}, "customer_id"),
        ("/customer_value", {"customer_id": ""}, "customer_id"),
        ("/customer_value", {"customer_id": "1", "horizon": 30}, "horizon"),
        ("/customer_value_batch", {"customer_ids": []}, "customer_ids"),
        ("/customer_value_batch", {"customer_ids": ["1", True]}, "customer_ids.1"),
        ("/churn_risk", {"customer_id": 1.5}, "customer_id"),
    ],
)
def test_invalid_input_is_400_naming_the_field(client, served, path, body, field) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert field in response.json()["error"]


def test_online_store_down_is_503_and_recovers(client, served, ids, serving_home) -> None:
    body = {"customer_id": ids.history_customer}
    before = client.post("/customer_value", json=body).json()
    store = serving_home.feast_online_path
    moved = store.with_name("online_store.away")
    store.rename(moved)
    try:
        for path, payload in (
            ("/customer_value", body),
            ("/customer_value_batch", {"customer_ids": [ids.history_customer]}),
            ("/churn_risk", body),
        ):
            response = client.post(path, json=payload)
            assert response.status_code == 503, path
            assert "online feature store is unavailable" in response.json()["error"]
    finally:
        moved.rename(store)
    deadline = time.monotonic() + 30
    while (response := client.post("/customer_value", json=body)).status_code == 503:
        assert time.monotonic() < deadline, "the service did not recover"
        time.sleep(0.5)
    assert response.json() == before


def test_segment_profiles_carry_mean_clv_and_churn_risk(client, served, ids) -> None:
    body = client.post("/segment", json={"customer_id": ids.history_customer}).json()
    profile, segment = body["profile"], str(body["segment"])
    means = {name: served[name].model.segment_means for name in (CLV, CHURN)}
    for name, key in ((CLV, "mean_clv"), (CHURN, "mean_churn_risk")):
        assert key in profile
        if means[name].get("segmentation_version") == served[SEGMENTATION].version:
            assert profile[key] == pytest.approx(means[name]["segments"][segment]["mean"])
        else:  # trained beside another segmentation: its segment ids mean other groups
            assert profile[key] is None
    assert means[CLV].get("segmentation_version") == served[SEGMENTATION].version, (
        "the pipeline trains clv after segmentation, so its means are for the served segments"
    )


def test_model_info_names_the_clv_horizon(client, served) -> None:
    info = {m["name"]: m for m in client.post("/model_info", json={}).json()["models"]}
    assert info[CLV]["details"]["horizon_days"] == 365
    assert info[CHURN]["details"]["horizon_days"] == 90
