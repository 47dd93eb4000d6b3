"""``/sentiment``, ``/sentiment_batch`` and ``/product_reviews`` over HTTP, on ``bentoml serve``.

The pipeline's data folder (``pipeline_home``) already holds reviews of its own orders and a
sentiment champion trained by the pipeline's run; the server runs on the session's serving copy
of it. Expected answers come from that champion loaded in this process.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import pytest

from mercato.settings import Settings
from models.sentiment import MODEL_NAME
from warehouse.sources.reviews import MAX_TEXT_CHARS

pytestmark = pytest.mark.slow

POSITIVE = "Absolutely love this, would definitely buy it again."
NEGATIVE = "Terrible quality, it arrived broken. Sent it back, a complete waste of money."


@pytest.fixture(scope="module")
def sentiment_home(serving_home: Settings) -> Settings:
    """The serving copy of the pipeline's data folder (reviews in, sentiment trained)."""
    return serving_home


@pytest.fixture(scope="module")
def champion(sentiment_home: Settings):
    """(the sentiment champion the pipeline's run promoted, its version)."""
    from models import registry

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", sentiment_home.tracking_uri)
        return registry.load_champion(sentiment_home, MODEL_NAME)


@pytest.fixture(scope="module")
def client(sentiment_home: Settings) -> Iterator[httpx.Client]:
    from serving.launch import free_port, start_background

    settings = dataclasses.replace(sentiment_home, model_poll_seconds=0.0)
    with (
        start_background(settings, port=free_port(), timeout=300) as server,
        httpx.Client(base_url=server.url, timeout=30) as value,
    ):
        yield value


def test_sentiment_answers_what_the_champion_computes(client, champion) -> None:
    model, version = champion
    for text in (POSITIVE, NEGATIVE):
        response = client.post("/sentiment", json={"text": text})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["probability_positive"] == pytest.approx(model.predict_proba(text))
        assert body["label"] == model.label(body["probability_positive"])
        assert body["model_version"] == version
    good = client.post("/sentiment", json={"text": POSITIVE}).json()
    bad = client.post("/sentiment", json={"text": NEGATIVE}).json()
    assert good["probability_positive"] > bad["probability_positive"]
    titled = client.post("/sentiment", json={"text": "It is ok.", "title": "Love it!"}).json()
    assert titled["probability_positive"] == pytest.approx(
        model.predict_proba("It is ok.", "Love it!")
    )


def test_sentiment_names_the_terms_that_drove_it(client, champion) -> None:
    model, _ = champion
    text = "Love the colour but it arrived broken."
    body = client.post("/sentiment", json={"text": text, "terms": 3}).json()
    expected = model.explain_many([text], k=3)[0]
    for side in ("positive", "negative"):
        got = body[f"{side}_terms"]
        assert [t["term"] for t in got] == [t for t, _ in expected[side]]
        assert [t["weight"] for t in got] == pytest.approx([w for _, w in expected[side]], abs=1e-6)
    assert all(t["weight"] > 0 for t in body["positive_terms"])
    assert all(t["weight"] < 0 for t in body["negative_terms"])
    assert {"broken", "arrived broken"} & {t["term"] for t in body["negative_terms"]}
    quiet = client.post("/sentiment", json={"text": text, "terms": 0}).json()
    assert quiet["positive_terms"] == [] and quiet["negative_terms"] == []
    assert quiet["probability_positive"] == pytest.approx(body["probability_positive"])


@pytest.mark.parametrize(
    "text", ["😍😍😍", "!!!", "这条裙子很好看", "Très belle robe, je l'adore", "a", "tts 🙂 lol"]
)
def test_any_language_or_emoji_gets_an_answer_with_its_terms(client, text: str) -> None:
    response = client.post("/sentiment", json={"text": text, "terms": 20})
    assert response.status_code == 200, response.text
    body = response.json()
    assert 0 <= body["probability_positive"] <= 1
    assert len(body["positive_terms"]) <= 20 and len(body["negative_terms"]) <= 20


def test_the_batch_scores_each_text_in_order(client, champion) -> None:
    model, version = champion
    texts = [POSITIVE, NEGATIVE, "It's okay, nothing special."]
    body = client.post("/sentiment_batch", json={"texts": texts}).json()
    assert body["model_version"] == version
    got = [r["probability_positive"] for r in body["results"]]
    assert got == pytest.approx(list(model.predict_proba_many(texts)))
    drivers = model.explain_many(texts, k=5)
    for result, expected in zip(body["results"], drivers, strict=True):
        assert [t["term"] for t in result["negative_terms"]] == [t for t, _ in expected["negative"]]


def test_product_reviews_give_the_marts_statistics_and_the_terms(
    client, champion, sentiment_home
) -> None:
    from warehouse import reader

    model, version = champion
    stats = reader.read_table(sentiment_home, "product_review_stats")
    top = stats.sort_values(["n_reviews", "product_id"], ascending=[False, True]).iloc[0]
    response = client.post("/product_reviews", json={"product_id": top["product_id"], "k": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == version
    assert body["n_reviews"] == top["n_reviews"]
    assert body["mean_rating"] == pytest.approx(top["mean_rating"])
    assert body["negative_share"] == pytest.approx(top["negative_share"])
    assert len(body["praise"]) <= 3 and len(body["complaints"]) <= 3
    insight = model.product_insight(top["product_id"])
    assert [t["term"] for t in body["praise"]] == [t["term"] for t in insight["praise"][:3]]
    # a numeric product id may be sent as a JSON number
    if str(top["product_id"]).isdigit():
        again = client.post("/product_reviews", json={"product_id": int(top["product_id"])})
        assert again.json()["n_reviews"] == body["n_reviews"]


def test_an_unknown_product_gets_404_naming_it(client) -> None:
    response = client.post("/product_reviews", json={"product_id": "NO-SUCH-PRODUCT"})
    assert response.status_code == 404
    assert "NO-SUCH-PRODUCT" in response.json()["error"]
    assert response.json()["field"] == "product_id"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/sentiment", {"text": "   "}, "text"),
        ("/sentiment", {"text": ""}, "text"),
        ("/sentiment", {"text": "x" * (MAX_TEXT_CHARS + 1)}, "text"),
        ("/sentiment", {"text": 5}, "text"),
        ("/sentiment", {"text": "fine", "stars": 5}, "stars"),
        ("/sentiment", {"text": "fine", "terms": 21}, "terms"),
        ("/sentiment", {"text": "fine", "terms": -1}, "terms"),
        ("/sentiment_batch", {"texts": []}, "texts"),
        ("/sentiment_batch", {"texts": ["ok"] * 1001}, "texts"),
        ("/product_reviews", {"product_id": "x", "k": 0}, "k"),
    ],
)
def test_bad_requests_get_400_naming_the_field(client, path: str, body: dict, field: str):
    response = client.post(path, json=body)
    assert response.status_code == 400, response.text
    assert field in response.text


def test_model_info_and_the_api_page_show_the_sentiment_family(client, champion) -> None:
    _, version = champion
    info = client.post("/model_info", json={}).json()
    served = {m["name"]: m for m in info["models"]}
    assert served[MODEL_NAME]["version"] == version
    assert served[MODEL_NAME]["details"]["n_products"] > 0
    spec = client.get("/docs.json").json()
    assert "sentiment" in {t["name"] for t in spec["tags"]}
    for route in ("/sentiment", "/sentiment_batch", "/product_reviews"):
        operation = spec["paths"][route]["post"]
        assert operation["tags"] == ["sentiment"] and operation["summary"]
        examples = operation["requestBody"]["content"]["application/json"]["examples"]
        for example in examples.values():
            assert client.post(route, json=example["value"]).status_code == 200, route
