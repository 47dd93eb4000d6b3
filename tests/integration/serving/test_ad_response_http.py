"""``/ad_response`` and its batch over HTTP, on the shared server (``pipeline_home`` lands
generated impressions, so the ad response champion is served)."""

from __future__ import annotations

import pytest

from models.ad_response import MODEL_NAME
from serving.apis.ad_response import EXAMPLE_IMPRESSION

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def champion(core):
    loaded = core.tracker.current.get(MODEL_NAME)
    assert loaded is not None, "no ad response champion: pipeline_home landed no impressions?"
    return loaded


def test_an_impression_is_scored_by_the_champion(client, champion) -> None:
    response = client.post("/ad_response", json=EXAMPLE_IMPRESSION)
    assert response.status_code == 200, response.text
    body = response.json()
    context = {k: EXAMPLE_IMPRESSION[k] for k in ("campaign", "creative", "placement", "device")}
    context |= {"os": "ios", "country": "GB", "hour_of_day": 20, "day_of_week": 5}
    context["is_known_customer"] = False
    expected = champion.model.predict_rows([context])
    assert body["click_probability"] == pytest.approx(expected["click"][0])
    assert body["conversion_probability"] == pytest.approx(expected["conversion"][0])
    assert body["impression_id"] == "imp-1" and body["model_version"] == champion.version


def test_a_batch_answers_in_order_like_single_calls(client) -> None:
    impressions = [
        EXAMPLE_IMPRESSION,
        {**EXAMPLE_IMPRESSION, "impression_id": "imp-2", "placement": "sidebar"},
        {"campaign": "brand", "creative": "never-seen", "placement": "x", "device": "tv"},
    ]
    response = client.post("/ad_response_batch", json={"impressions": impressions})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    singles = [client.post("/ad_response", json=i).json() for i in impressions]
    assert [r["click_probability"] for r in results] == pytest.approx(
        [s["click_probability"] for s in singles]
    )
    assert [r["impression_id"] for r in results] == ["imp-1", "imp-2", None]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/ad_response", {k: v for k, v in EXAMPLE_IMPRESSION.items() if k != "device"}, "device"),
        ("/ad_response", {**EXAMPLE_IMPRESSION, "campaign": ""}, "campaign"),
        ("/ad_response", {**EXAMPLE_IMPRESSION, "placement": 3}, "placement"),
        ("/ad_response", {**EXAMPLE_IMPRESSION, "shown_at": "tuesday"}, "shown_at"),
        ("/ad_response", {**EXAMPLE_IMPRESSION, "bid": 1.0}, "bid"),
        (
            "/ad_response_batch",
            {"impressions": [EXAMPLE_IMPRESSION, {**EXAMPLE_IMPRESSION, "shown_at": "x"}]},
            "impressions.1.shown_at",
        ),
    ],
)
def test_invalid_input_is_400_naming_the_field(client, path, body, field) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["field"] == field
    assert field in error["error"]
