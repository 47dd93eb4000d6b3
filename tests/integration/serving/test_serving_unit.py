"""Unit tests of serving: request validation, the guard middleware, the service class called
directly (no HTTP), following the champion alias, and the online store going away and back.

Expected answers come from the model objects' own contract methods (``recommend``,
``similar_items``, ``predict_proba`` ...) and from Feast's reader, not from serving's code.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
from example_data import FEATURES
from pydantic import ValidationError

from features import CUSTOMER_FEATURES
from serving import schemas as s
from serving.champions import PROPENSITY, RECOMMENDER, SEGMENTATION

pytestmark = pytest.mark.slow


def run(coro_or_value: Any) -> Any:
    """Await the async endpoints; the sync ones return their value directly."""
    if asyncio.iscoroutine(coro_or_value):
        return asyncio.run(coro_or_value)
    return coro_or_value


def error_of(response: Any) -> tuple[int, dict[str, Any]]:
    return response.status_code, json.loads(response.body)


def online_features(settings, customer_id: str) -> dict[str, float]:
    """The customer's features read straight from Feast, missing values as 0 (serving's rule)."""
    from features.online import OnlineFeatureReader

    values = OnlineFeatureReader(settings).get_customer_features([customer_id])[customer_id]
    assert values is not None
    return {k: (0.0 if v is None or math.isnan(v) else v) for k, v in values.items()}


# -- request models -----------------------------------------------------------------------------
def test_feature_request_matches_the_feature_store_names() -> None:
    assert list(s.CustomerFeatures.model_fields) == CUSTOMER_FEATURES


@pytest.mark.parametrize("raw", [17850, 17850.0, "17850", " 17850 ", "17850.0"])
def test_customer_ids_are_normalised_to_integer_text(raw: Any) -> None:
    assert s.RecommendRequest(customer_id=raw).customer_id == "17850"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customer_id": True}, "customer_id"),
        ({"customer_id": ""}, "customer_id"),
        ({"customer_id": "x" * 65}, "customer_id"),
        ({"customer_id": "a\nb"}, "customer_id"),
        ({"customer_id": "1", "k": 0}, "k"),
        ({"customer_id": "1", "k": 101}, "k"),
        ({"customer_id": "1", "k": "5"}, "k"),
        ({"customer_id": "1", "exclude_bought": "yes"}, "exclude_bought"),
        ({"customer_id": "1", "colour": "red"}, "colour"),
    ],
)
def test_invalid_recommend_requests_name_the_field(body: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        s.RecommendRequest.model_validate_json(json.dumps(body))
    assert info.value.errors()[0]["loc"][0] == field


def test_non_finite_features_are_refused() -> None:
    for bad in ("NaN", "Infinity", "-Infinity", "1e400"):
        raw = json.dumps({"features": FEATURES}).replace(
            '"recency_days": 12.0', f'"recency_days": {bad}'
        )
        with pytest.raises(ValidationError) as info:
            s.PropensityFeaturesRequest.model_validate_json(raw)
        assert info.value.errors()[0]["loc"] == ("features", "recency_days")


def test_batches_are_bounded() -> None:
    s.RecommendBatchRequest(customer_ids=["1"] * s.MAX_BATCH)
    with pytest.raises(ValidationError):
        s.RecommendBatchRequest(customer_ids=["1"] * (s.MAX_BATCH + 1))
    with pytest.raises(ValidationError):
        s.PropensityBatchRequest(customer_ids=[])


# -- guard middleware ---------------------------------------------------------------------------
async def _echo(scope, receive, send) -> None:
    """A downstream app that reads the body and answers 200 with its length."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    payload = json.dumps({"length": len(body)}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": payload})


async def _pydantic_400(scope, receive, send) -> None:
    """What BentoML answers for a validation error."""
    await receive()
    payload = json.dumps(
        {
            "error": "1 validation error for RecommendRequest",
            "detail": [{"type": "less_than_equal", "loc": ["k"], "msg": "Input should be <= 100"}],
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": 400, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def call(app, path="/recommend", method="POST", headers=(), chunks=(b"{}",)):
    """Drive an ASGI app once; returns (status, headers, json body)."""
    sent: list[dict] = []
    pending = list(chunks)

    async def receive():
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(k.lower(), v) for k, v in headers],
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start.get("headers", [])), json.loads(body)


def test_guard_without_a_key_lets_requests_through() -> None:
    from serving.guard import Guard

    status, _, body = call(Guard(_echo, api_key="", max_body=100), chunks=[b'{"a": 1}'])
    assert (status, body) == (200, {"length": 8})


def test_guard_with_a_key_needs_it_except_on_health_checks() -> None:
    from serving.guard import Guard

    app = Guard(_echo, api_key="s3cret", max_body=100)
    status, headers, body = call(app)
    assert status == 401 and "API key" in body["error"]
    assert headers[b"www-authenticate"] == b"Bearer"
    assert call(app, headers=[(b"x-api-key", b"wrong")])[0] == 401
    assert call(app, headers=[(b"authorization", b"Bearer wrong")])[0] == 401
    assert call(app, headers=[(b"authorization", b"Basic s3cret")])[0] == 401
    assert call(app, headers=[(b"x-api-key", b"s3cret")])[0] == 200
    assert call(app, headers=[(b"authorization", b"Bearer s3cret")])[0] == 200
    for path in ("/healthz", "/livez", "/readyz"):
        assert call(app, path=path, method="GET")[0] == 200
    assert call(app, path="/metrics", method="GET")[0] == 401


def test_guard_refuses_large_bodies_and_non_json() -> None:
    from serving.guard import Guard

    app = Guard(_echo, api_key="", max_body=10)
    declared = [(b"content-length", b"11")]
    assert call(app, headers=declared, chunks=[b"x" * 11])[0] == 413
    # no Content-Length (chunked): counted while reading
    status, _, body = call(app, chunks=[b"x" * 6, b"x" * 6])
    assert status == 413 and "10 bytes" in body["error"]
    assert call(app, chunks=[b"x" * 10])[0] == 200
    status, _, body = call(app, headers=[(b"content-type", b"text/plain")])
    assert status == 415 and "application/json" in body["error"]
    assert call(app, headers=[(b"content-type", b"application/json; charset=utf-8")])[0] == 200


def test_guard_names_the_field_in_validation_errors() -> None:
    from serving.guard import Guard

    status, headers, body = call(Guard(_pydantic_400, api_key="", max_body=100))
    assert status == 400
    assert body["field"] == "k"
    assert body["error"].startswith("invalid request: k:")
    assert int(headers[b"content-length"]) == len(json.dumps(body, separators=(",", ":")))


# -- the service class, called directly ---------------------------------------------------------
class Answers:
    """The service instance, its API methods answering with the declared response model.

    The APIs send their answers as finished JSON responses; these are parsed back with each
    API's ``output_spec`` (what the OpenAPI page documents), which also proves they match it.
    Error responses come back as they are.
    """

    def __init__(self, instance: Any, apis: dict[str, Any]) -> None:
        self.instance = instance
        self.apis = apis

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.instance, name)
        if name not in self.apis:
            return value
        spec = self.apis[name].output_spec

        def call(request: Any) -> Any:
            out = run(value(request))
            if getattr(out, "status_code", None) == 200:
                return spec.model_validate_json(out.body)
            return out

        return call


@pytest.fixture(scope="module")
def service(session_env):
    from serving.service import Mercato

    instance = Mercato()
    yield Answers(instance, Mercato.apis)
    instance.core.stop()


@pytest.fixture(scope="module")
def models(service) -> dict[str, Any]:
    current = service.core.tracker.current
    return {name: current.get(name) for name in (RECOMMENDER, SEGMENTATION, PROPENSITY)}


def test_service_serves_the_registry_champions(service, serving_home) -> None:
    from models import registry

    info = run(service.model_info(s.ModelInfoRequest()))
    served = {m.name: m.version for m in info.models}
    assert served == registry.champions(serving_home)
    assert all(m.alias == "champion" and m.loaded_at for m in info.models)
    assert service.__is_ready__()


def test_recommendations_for_a_known_customer(service, models, ids) -> None:
    rec = models[RECOMMENDER]
    for exclude in (True, False):
        req = s.RecommendRequest(customer_id=ids.history_customer, k=5, exclude_bought=exclude)
        out = run(service.recommend(req))
        expected = rec.model.recommend(ids.history_customer, k=5, exclude_bought=exclude)
        assert [(i.stock_code, i.score) for i in out.items] == [
            (str(c), pytest.approx(v)) for c, v in expected
        ]
        assert out.cold_start is False
        assert out.model_version == rec.version


def test_unknown_customer_gets_the_popular_items(service, models, ids) -> None:
    out = run(service.recommend(s.RecommendRequest(customer_id=ids.unknown_customer, k=4)))
    popular = models[RECOMMENDER].model.recommend(ids.unknown_customer, k=4)
    assert out.cold_start is True
    assert [i.stock_code for i in out.items] == [str(c) for c, _ in popular]
    assert len(out.items) == 4


def test_similar_items_and_unknown_product(service, models, ids) -> None:
    out = run(service.similar_items(s.SimilarItemsRequest(stock_code=ids.product, k=3)))
    expected = models[RECOMMENDER].model.similar_items(ids.product, k=3)
    assert [i.stock_code for i in out.items] == [str(c) for c, _ in expected]
    assert ids.product not in [i.stock_code for i in out.items]
    status, body = error_of(
        run(service.similar_items(s.SimilarItemsRequest(stock_code=ids.unknown_product)))
    )
    assert status == 404
    assert ids.unknown_product in body["error"] and body["field"] == "stock_code"


def test_segment_with_profile(service, models, ids, serving_home) -> None:
    seg = models[SEGMENTATION]
    out = service.segment(s.SegmentRequest(customer_id=ids.history_customer))
    expected = seg.model.assign(online_features(serving_home, ids.history_customer))
    assert (out.known_customer, out.segment) == (True, expected)
    assert out.profile == json.loads(json.dumps(seg.model.profiles[expected], default=float))
    assert out.model_version == seg.version
    unknown = service.segment(s.SegmentRequest(customer_id=ids.unknown_customer))
    assert (unknown.known_customer, unknown.segment, unknown.profile) == (False, None, None)


def test_propensity_from_the_online_store(service, models, ids, serving_home) -> None:
    prop = models[PROPENSITY]
    out = service.propensity(s.PropensityRequest(customer_id=ids.history_customer))
    expected = prop.model.predict_proba(online_features(serving_home, ids.history_customer))
    assert out.known_customer is True
    assert out.probability == pytest.approx(expected)
    assert out.model_version == prop.version
    unknown = service.propensity(s.PropensityRequest(customer_id=ids.unknown_customer))
    assert (unknown.known_customer, unknown.probability) == (False, None)


def test_propensity_for_explicit_features(service, models) -> None:
    prop = models[PROPENSITY]
    out = run(service.propensity_features(s.PropensityFeaturesRequest(features=FEATURES)))
    assert out.probability == pytest.approx(prop.model.predict_proba(FEATURES))
    older = dict(FEATURES, recency_days=200.0)
    rows = [FEATURES, older]
    batch = run(service.propensity_features_batch(s.PropensityFeaturesBatchRequest(rows=rows)))
    assert batch.probabilities == pytest.approx([prop.model.predict_proba(r) for r in rows])


def test_batches_answer_in_request_order(service, ids) -> None:
    customers = [ids.unknown_customer, *ids.online_customers[:3]]
    recs = run(service.recommend_batch(s.RecommendBatchRequest(customer_ids=customers, k=3)))
    assert [r.customer_id for r in recs.results] == customers
    assert [r.cold_start for r in recs.results][0] is True
    for one in recs.results:
        single = run(service.recommend(s.RecommendRequest(customer_id=one.customer_id, k=3)))
        assert one.items == single.items
    segs = service.segment_batch(s.SegmentBatchRequest(customer_ids=customers))
    props = service.propensity_batch(s.PropensityBatchRequest(customer_ids=customers))
    for i, cid in enumerate(customers):
        single = service.segment(s.SegmentRequest(customer_id=cid))
        assert segs.results[i].model_dump() == single.model_dump()
        one = service.propensity(s.PropensityRequest(customer_id=cid))
        # a batch is one matrix product: equal to the single answers up to rounding
        assert props.results[i].model_dump(exclude={"probability"}) == one.model_dump(
            exclude={"probability"}
        )
        assert props.results[i].probability == (
            None if one.probability is None else pytest.approx(one.probability, rel=1e-12)
        )
    codes = [ids.product, ids.unknown_product]
    sim = run(service.similar_items_batch(s.SimilarItemsBatchRequest(stock_codes=codes, k=2)))
    assert [(r.stock_code, r.found, len(r.items)) for r in sim.results] == [
        (ids.product, True, 2),
        (ids.unknown_product, False, 0),
    ]


# -- following the alias ------------------------------------------------------------------------
def _new_version_of_champion(settings, name: str) -> str:
    """Register the champion's artifact again as a new version (a challenger), return it."""
    from models import registry

    c = registry.client(settings)
    champion = c.get_model_version_by_alias(name, "champion")
    return registry.register(settings, name, champion.source)


def test_tracker_swaps_to_a_promoted_version_and_keeps_the_old_one_intact(copy_home) -> None:
    from models import registry
    from serving.champions import ChampionTracker

    settings = copy_home("tracker")
    tracker = ChampionTracker(settings, poll_seconds=0)
    tracker.refresh()
    heard: list = []
    tracker.on_swap.append(heard.append)
    before = tracker.current
    old = before.get(RECOMMENDER)
    assert tracker.refresh() == []  # nothing moved

    new_version = _new_version_of_champion(settings, RECOMMENDER)
    assert tracker.refresh() == []  # a challenger alone changes nothing
    registry.promote(settings, RECOMMENDER, new_version)
    assert tracker.refresh() == [(RECOMMENDER, old.version, new_version)]
    assert heard == [[(RECOMMENDER, old.version, new_version)]]  # told once, after the swap

    after = tracker.current
    assert after.get(RECOMMENDER).version == new_version
    assert after.get(SEGMENTATION) is before.get(SEGMENTATION)  # others untouched
    # a request that took the old snapshot still has a complete, working old model
    assert before.get(RECOMMENDER).version == old.version
    assert before.get(RECOMMENDER).model.recommend("anyone", k=2)

    registry.rollback(settings, RECOMMENDER)
    assert tracker.refresh() == [(RECOMMENDER, new_version, old.version)]


def test_tracker_keeps_serving_when_a_promoted_version_cannot_load(copy_home, tmp_path) -> None:
    from models import registry
    from serving.champions import ChampionTracker

    settings = copy_home("broken")
    tracker = ChampionTracker(settings, poll_seconds=0)
    tracker.refresh()
    served = tracker.current.get(PROPENSITY).version
    broken = registry.register(settings, PROPENSITY, (tmp_path / "no-such-model").as_uri())
    registry.promote(settings, PROPENSITY, broken)
    assert tracker.refresh() == []
    assert tracker.current.get(PROPENSITY).version == served


def test_tracker_polls_in_the_background(copy_home) -> None:
    from models import registry
    from serving.champions import ChampionTracker

    settings = copy_home("polling")
    tracker = ChampionTracker(settings, poll_seconds=0.2)
    tracker.refresh()
    tracker.start_polling()
    try:
        new_version = _new_version_of_champion(settings, SEGMENTATION)
        registry.promote(settings, SEGMENTATION, new_version)
        for _ in range(300):
            if tracker.current.get(SEGMENTATION).version == new_version:
                break
            asyncio.run(asyncio.sleep(0.05))
        assert tracker.current.get(SEGMENTATION).version == new_version
    finally:
        tracker.stop()


# -- the online store going away ----------------------------------------------------------------
def test_online_store_outage_is_a_503_and_recovers_by_itself(copy_home, ids) -> None:
    from serving.core import CustomerFeatureSource, MercatoCore, Unavailable

    settings = copy_home("outage")
    core = MercatoCore(settings, poll_seconds=0, features=CustomerFeatureSource(settings))
    core.start()
    req = s.PropensityRequest(customer_id=ids.history_customer)
    good = core.propensity(req)
    store = settings.feast_online_path
    moved = store.with_name("moved-away.db")
    store.rename(moved)
    try:
        for _ in range(3):  # stays a clean 503, however often it is asked
            with pytest.raises(Unavailable) as info:
                core.propensity(req)
            assert info.value.status == 503
            assert "online feature store is unavailable" in info.value.message
            with pytest.raises(Unavailable):
                core.segment(s.SegmentRequest(customer_id=ids.history_customer))
        # endpoints that need no features keep working
        assert core.recommend(s.RecommendRequest(customer_id=ids.history_customer)).items
    finally:
        moved.rename(store)
    assert core.propensity(req) == good
