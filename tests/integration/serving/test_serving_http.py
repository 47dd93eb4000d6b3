"""Integration tests: ``bentoml serve`` on 127.0.0.1, every endpoint and every error over HTTP.

The server runs with an API key (so every call here sends it) on a copy of a pipeline-built data
folder. Expected answers come from the champions' own contract methods, loaded in this process.
"""

from __future__ import annotations

import math

import httpx
import pytest
from served_models import served_champions

from models.propensity import MODEL_NAME as PROPENSITY
from models.recommendation import MODEL_NAME as RECOMMENDER
from models.segmentation import MODEL_NAME as SEGMENTATION
from serving.apis.propensity import EXAMPLE_FEATURES as FEATURES

pytestmark = pytest.mark.slow

ENDPOINTS = [
    "recommend",
    "recommend_batch",
    "similar_items",
    "similar_items_batch",
    "segment",
    "segment_batch",
    "propensity",
    "propensity_batch",
    "propensity_features",
    "propensity_features_batch",
    "model_info",
]


@pytest.fixture(scope="module")
def champions(core):
    current = core.tracker.current
    return {name: current.get(name) for name in (RECOMMENDER, SEGMENTATION, PROPENSITY)}


def online_features(settings, customer_id: str) -> dict[str, float]:
    from features.online import OnlineFeatureReader

    values = OnlineFeatureReader(settings).get_customer_features([customer_id])[customer_id]
    return {k: (0.0 if v is None or math.isnan(v) else v) for k, v in values.items()}


def post_raw(client: httpx.Client, path: str, content: bytes, content_type="application/json"):
    return client.post(path, content=content, headers={"Content-Type": content_type})


# -- documentation, health, auth ----------------------------------------------------------------
def test_openapi_documents_every_endpoint(server) -> None:
    spec = httpx.get(f"{server.url}/docs.json", timeout=30).json()
    assert {f"/{name}" for name in ENDPOINTS} <= set(spec["paths"])
    schemas = spec["components"]["schemas"]
    recommend = next(v for k, v in schemas.items() if k.startswith("RecommendRequest"))
    assert recommend["properties"]["customer_id"]["description"]
    assert recommend["properties"]["customer_id"]["examples"] == ["17850"]


def test_the_api_page_is_mercatos_own_and_every_example_answers(server, api_key) -> None:
    """Acceptance of the API page: title and version, a tag per family, a summary on every
    operation, and every documented example answered with 200 on the data being served."""
    from importlib import metadata

    from models.family import families

    spec = httpx.get(f"{server.url}/docs.json", timeout=30).json()
    assert spec["info"]["title"] == "Mercato API"
    assert spec["info"]["version"] == metadata.version("mercato")
    assert "Authorization: Bearer" in spec["info"]["description"]
    assert "BentoML" not in spec["info"]["description"]
    tags = {t["name"]: t.get("description") for t in spec["tags"]}
    for family in families():
        if family.api:  # a family without endpoints (rating_recommendation) has no tag
            assert tags.get(family.name), f"no tag with a description for {family.name}"
    headers = {"Authorization": f"Bearer {api_key}"}
    answered = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), f"{method.upper()} {path} has no summary"
            assert operation.get("tags"), f"{method.upper()} {path} has no tag"
            if method != "post":
                continue
            examples = operation["requestBody"]["content"]["application/json"]["examples"]
            if path.startswith("/admin"):
                continue  # documented, not run: it would erase a customer from the shared home
            for example in examples.values():
                response = httpx.post(
                    f"{server.url}{path}", json=example["value"], headers=headers, timeout=30
                )
                assert response.status_code == 200, (path, example["value"], response.text)
                answered += 1
    assert answered >= len(ENDPOINTS)
    page = httpx.get(f"{server.url}/", timeout=30).text
    assert "<title>Mercato API</title>" in page and "googletagmanager" not in page


def test_health_checks_need_no_key(server) -> None:
    for path in ("/healthz", "/livez", "/readyz"):
        assert httpx.get(f"{server.url}{path}", timeout=10).status_code == 200


def test_api_calls_without_the_right_key_get_401(server, ids, api_key) -> None:
    body = {"customer_id": ids.history_customer}
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
        response = httpx.post(f"{server.url}/recommend", json=body, headers=headers, timeout=10)
        assert response.status_code == 401
        assert "API key" in response.json()["error"]
    ok = httpx.post(
        f"{server.url}/recommend",
        json=body,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=10,
    )
    assert ok.status_code == 200


# -- every endpoint -----------------------------------------------------------------------------
def test_recommend(client, champions, ids) -> None:
    rec = champions[RECOMMENDER]
    response = client.post("/recommend", json={"customer_id": ids.history_customer, "k": 5})
    assert response.status_code == 200
    body = response.json()
    expected = rec.model.recommend(ids.history_customer, k=5, exclude_bought=True)
    assert [i["stock_code"] for i in body["items"]] == [str(c) for c, _ in expected]
    assert body["cold_start"] is False
    assert body["model_version"] == rec.version
    # the id may be sent as a number
    as_number = client.post("/recommend", json={"customer_id": int(ids.history_customer), "k": 5})
    assert as_number.json() == body


def test_recommend_unknown_customer_is_the_cold_start_answer(client, champions, ids) -> None:
    body = client.post("/recommend", json={"customer_id": ids.unknown_customer, "k": 3}).json()
    popular = champions[RECOMMENDER].model.recommend(ids.unknown_customer, k=3)
    assert body["cold_start"] is True
    assert [i["stock_code"] for i in body["items"]] == [str(c) for c, _ in popular]


def test_recommend_batch(client, ids) -> None:
    customers = [ids.history_customer, ids.unknown_customer]
    body = client.post("/recommend_batch", json={"customer_ids": customers, "k": 2}).json()
    assert [r["customer_id"] for r in body["results"]] == customers
    assert [r["cold_start"] for r in body["results"]] == [False, True]
    single = client.post("/recommend", json={"customer_id": customers[0], "k": 2}).json()
    assert body["results"][0] == single


def test_similar_items(client, champions, ids) -> None:
    body = client.post("/similar_items", json={"stock_code": ids.product, "k": 4}).json()
    expected = champions[RECOMMENDER].model.similar_items(ids.product, k=4)
    assert [i["stock_code"] for i in body["items"]] == [str(c) for c, _ in expected]
    assert body["model_version"] == champions[RECOMMENDER].version


def test_similar_items_unknown_product_is_404(client, ids) -> None:
    response = client.post("/similar_items", json={"stock_code": ids.unknown_product})
    assert response.status_code == 404
    assert response.json()["field"] == "stock_code"
    assert f"unknown product '{ids.unknown_product}'" in response.json()["error"]


def test_similar_items_batch(client, ids) -> None:
    codes = [ids.product, ids.unknown_product]
    body = client.post("/similar_items_batch", json={"stock_codes": codes, "k": 2}).json()
    assert [(r["stock_code"], r["found"], len(r["items"])) for r in body["results"]] == [
        (ids.product, True, 2),
        (ids.unknown_product, False, 0),
    ]


def test_answers_name_the_method_and_describe_every_item(client, champions, ids) -> None:
    rec = champions[RECOMMENDER].model
    body = client.post("/recommend", json={"customer_id": ids.history_customer, "k": 3}).json()
    assert body["method"] == rec.recommend_explained(ids.history_customer, k=3)[1]
    assert body["method"] == rec.algorithm
    assert all(i["description"] for i in body["items"])
    assert [i["description"] for i in body["items"]] == [
        rec.describe(i["stock_code"]) for i in body["items"]
    ]
    cold = client.post("/recommend", json={"customer_id": ids.unknown_customer, "k": 2}).json()
    assert cold["method"] == "popularity" and all(i["description"] for i in cold["items"])
    sim = client.post("/similar_items", json={"stock_code": ids.product, "k": 3}).json()
    assert sim["method"] == rec.similar_items_explained(ids.product, k=3)[1]
    assert all(i["description"] for i in sim["items"])
    codes = [ids.product, ids.unknown_product]
    batch = client.post("/similar_items_batch", json={"stock_codes": codes, "k": 3}).json()
    assert [r["method"] for r in batch["results"]] == [sim["method"], None]
    many = client.post("/recommend_batch", json={"customer_ids": [ids.history_customer]}).json()
    assert many["results"][0]["method"] == body["method"]


def test_segment(client, champions, ids, serving_home) -> None:
    seg = champions[SEGMENTATION]
    body = client.post("/segment", json={"customer_id": ids.history_customer}).json()
    expected = seg.model.assign(online_features(serving_home, ids.history_customer))
    assert (body["known_customer"], body["segment"]) == (True, expected)
    assert body["profile"]["size"] == seg.model.profiles[expected]["size"]
    assert body["model_version"] == seg.version
    unknown = client.post("/segment", json={"customer_id": ids.unknown_customer}).json()
    assert (unknown["known_customer"], unknown["segment"], unknown["profile"]) == (
        False,
        None,
        None,
    )


def test_segment_batch(client, ids) -> None:
    customers = [*ids.online_customers[:3], ids.unknown_customer]
    body = client.post("/segment_batch", json={"customer_ids": customers}).json()
    assert [r["known_customer"] for r in body["results"]] == [True, True, True, False]


def test_propensity(client, champions, ids, serving_home) -> None:
    prop = champions[PROPENSITY]
    body = client.post("/propensity", json={"customer_id": ids.history_customer}).json()
    expected = prop.model.predict_proba(online_features(serving_home, ids.history_customer))
    assert body["known_customer"] is True
    assert body["probability"] == pytest.approx(expected)
    assert body["model_version"] == prop.version
    unknown = client.post("/propensity", json={"customer_id": ids.unknown_customer}).json()
    assert (unknown["known_customer"], unknown["probability"]) == (False, None)


def test_propensity_batch(client, ids) -> None:
    customers = [ids.unknown_customer, *ids.online_customers[:3]]
    body = client.post("/propensity_batch", json={"customer_ids": customers}).json()
    assert [r["customer_id"] for r in body["results"]] == customers
    assert body["results"][0]["probability"] is None
    assert all(0 <= r["probability"] <= 1 for r in body["results"][1:])


def test_propensity_features(client, champions) -> None:
    prop = champions[PROPENSITY]
    body = client.post("/propensity_features", json={"features": FEATURES}).json()
    assert body["probability"] == pytest.approx(prop.model.predict_proba(FEATURES))
    rows = [FEATURES, dict(FEATURES, recency_days=250.0, frequency=1)]
    batch = client.post("/propensity_features_batch", json={"rows": rows}).json()
    assert batch["probabilities"] == pytest.approx([prop.model.predict_proba(r) for r in rows])
    assert batch["model_version"] == prop.version


def test_model_info(client, server, serving_home) -> None:
    import psutil

    body = client.post("/model_info", json={}).json()
    assert {m["name"]: m["version"] for m in body["models"]} == served_champions(serving_home)
    assert body["poll_seconds"] == 1.0
    workers = {p.pid for p in psutil.Process(server.pid).children(recursive=True)}
    assert body["worker_pid"] in workers  # the worker that answered, not the arbiter
    assert client.post("/model_info").status_code == 200  # an empty body is fine too


def test_metrics_count_calls_and_show_the_served_versions(client, server, ids, serving_home):
    from prometheus_client.parser import text_string_to_metric_families

    def scrape() -> dict[tuple, float]:
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples
        }

    ok = ("mercato_http_requests_total", (("endpoint", "recommend"), ("status", "200")))
    before = scrape().get(ok, 0)
    for _ in range(5):
        client.post("/recommend", json={"customer_id": ids.history_customer}).raise_for_status()
    client.post("/recommend", json={"customer_id": ids.history_customer, "k": 0})
    after = scrape()
    assert after[ok] == before + 5
    assert after[("mercato_http_requests_total", (("endpoint", "recommend"), ("status", "400")))]
    versions = {
        dict(labels)["model"]: str(int(value))
        for (name, labels), value in after.items()
        if name == "mercato_served_model_version"
    }
    assert versions == {k: v for k, v in served_champions(serving_home).items() if v}
    assert after[("process_resident_memory_bytes", ())] > 0
    assert httpx.get(f"{server.url}/metrics", timeout=10).status_code == 401  # behind the key


# -- client errors: 4xx with a message that names the problem -----------------------------------
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/recommend", {}, "customer_id"),
        ("/recommend", {"customer_id": "1", "k": 0}, "k"),
        ("/recommend", {"customer_id": "1", "k": "10"}, "k"),
        ("/recommend", {"customer_id": ["1"]}, "customer_id"),
        ("/recommend", {"customer_id": "1", "exclude_bought": "no"}, "exclude_bought"),
        ("/recommend", {"customer_id": "1", "extra": 1}, "extra"),
        ("/recommend_batch", {"customer_ids": ["1"] * 1001}, "customer_ids"),
        ("/similar_items", {"stock_code": ""}, "stock_code"),
        (
            "/propensity_features",
            {"features": {**FEATURES, "return_rate": 2}},
            "features.return_rate",
        ),
        ("/propensity_features", {"features": {"recency_days": 1}}, "features.frequency"),
        (
            "/propensity_features_batch",
            {"rows": [FEATURES, {**FEATURES, "is_uk": 3}]},
            "rows.1.is_uk",
        ),
    ],
)
def test_invalid_input_is_400_naming_the_field(client, path, body, field) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 400
    error = response.json()
    assert error["field"] == field
    assert field in error["error"]


def test_nan_and_malformed_json_are_400(client) -> None:
    nan = b'{"features": {"recency_days": NaN}}'
    response = post_raw(client, "/propensity_features", nan)
    assert response.status_code == 400 and response.json()["field"] == "features.recency_days"
    for raw in (b'{"customer_id": ', b"not json", b"\xff\xfe", b"[1, 2]", b"[" * 5000):
        response = post_raw(client, "/recommend", raw)
        assert response.status_code == 400, raw[:20]
        assert response.json()["error"].startswith("invalid request")


def test_huge_body_is_413_and_other_media_types_415(client) -> None:
    huge = b'{"customer_id": "' + b"1" * (2 << 20) + b'"}'
    response = post_raw(client, "/recommend", huge)
    assert response.status_code == 413 and "larger than" in response.json()["error"]
    response = post_raw(client, "/recommend", b"customer_id=1", "application/x-www-form-urlencoded")
    assert response.status_code == 415
    response = post_raw(client, "/recommend", b"--x--", "multipart/form-data; boundary=x")
    assert response.status_code == 415


def test_unknown_route_and_wrong_method_are_4xx(client) -> None:
    assert client.post("/no_such_endpoint", json={}).status_code == 404
    assert client.get("/recommend").status_code == 405


# -- the online store going away ----------------------------------------------------------------
def test_online_store_down_is_503_and_recovers_without_restart(client, serving_home, ids) -> None:
    body = {"customer_id": ids.history_customer}
    before = client.post("/propensity", json=body).json()
    store = serving_home.feast_online_path
    moved = store.with_name("online_store.away")
    store.rename(moved)
    try:
        for path in ("/propensity", "/segment", "/propensity_batch", "/segment_batch"):
            payload = body if "batch" not in path else {"customer_ids": [ids.history_customer]}
            response = client.post(path, json=payload)
            assert response.status_code == 503, path
            assert "online feature store is unavailable" in response.json()["error"]
        # what needs no online features still answers
        assert client.post("/recommend", json=body).status_code == 200
        assert client.post("/propensity_features", json={"features": FEATURES}).status_code == 200
    finally:
        moved.rename(store)
    assert client.post("/propensity", json=body).json() == before
