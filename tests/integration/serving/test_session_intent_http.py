"""``/session_intent`` and its batch over HTTP: answers equal the champion's own, and every
invalid session is a 400 naming the field. Runs on the shared server (``pipeline_home`` lands
generated sessions, so the session intent champion is served)."""

from __future__ import annotations

import pytest

from models.session_intent import MODEL_NAME
from serving.apis.session_intent import EXAMPLE_SESSION

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def champion(core):
    loaded = core.tracker.current.get(MODEL_NAME)
    assert loaded is not None, "no session intent champion: pipeline_home landed no sessions?"
    return loaded


def features(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "session_id"}


def test_one_session_is_scored_by_the_champion(client, champion) -> None:
    response = client.post("/session_intent", json=EXAMPLE_SESSION)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["session_id"] == "web-4711"
    assert body["model_version"] == champion.version
    assert body["probability"] == pytest.approx(
        champion.model.predict_proba(features(EXAMPLE_SESSION))
    )
    # the same behaviour without page value is a weaker signal of a purchase
    cold = client.post("/session_intent", json={**EXAMPLE_SESSION, "page_value": 0.0}).json()
    assert cold["probability"] < body["probability"]


def test_a_batch_answers_in_order_and_like_single_calls(client, champion) -> None:
    sessions = [
        EXAMPLE_SESSION,
        {"month": "June", "visitor_type": "New_Visitor", "product_pages": 1},
        {**EXAMPLE_SESSION, "session_id": None, "browser": 9999},
    ]
    response = client.post("/session_intent_batch", json={"sessions": sessions})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["session_ids"] == ["web-4711", None, None]
    singles = [client.post("/session_intent", json=s).json()["probability"] for s in sessions]
    assert body["probabilities"] == pytest.approx(singles)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**EXAMPLE_SESSION, "exit_rate": 1.5}, "exit_rate"),
        ({**EXAMPLE_SESSION, "product_pages": -1}, "product_pages"),
        ({**EXAMPLE_SESSION, "product_pages": "12"}, "product_pages"),
        ({**EXAMPLE_SESSION, "month": "Smarch"}, "month"),
        ({**EXAMPLE_SESSION, "visitor_type": "Robot"}, "visitor_type"),
        ({k: v for k, v in EXAMPLE_SESSION.items() if k != "month"}, "month"),
        ({**EXAMPLE_SESSION, "browser": 0}, "browser"),
        ({**EXAMPLE_SESSION, "pages": 3}, "pages"),
    ],
)
def test_an_invalid_session_is_400_naming_the_field(client, body, field) -> None:
    response = client.post("/session_intent", json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["field"] == field
    assert field in error["error"]


def test_an_invalid_session_in_a_batch_names_its_position(client) -> None:
    bad = {"sessions": [EXAMPLE_SESSION, {**EXAMPLE_SESSION, "bounce_rate": -0.1}]}
    response = client.post("/session_intent_batch", json=bad)
    assert response.status_code == 400 and response.json()["field"] == "sessions.1.bounce_rate"
    response = client.post("/session_intent_batch", json={"sessions": []})
    assert response.status_code == 400 and response.json()["field"] == "sessions"
