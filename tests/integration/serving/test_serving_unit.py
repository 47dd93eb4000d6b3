"""Serving in process: the service class called directly (no HTTP) on a data folder where the
pipeline ran, following the champion alias, and the online store going away and back.

Expected answers come from the model objects' own contract methods (``recommend``,
``similar_items``, ``predict_proba`` ...) and from Feast's reader, not from serving's code.
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
from served_models import served_champions

from models.propensity import MODEL_NAME as PROPENSITY
from models.recommendation import MODEL_NAME as RECOMMENDER
from models.segmentation import MODEL_NAME as SEGMENTATION
from serving import schemas as s
from serving.apis.propensity import EXAMPLE_FEATURES as FEATURES

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


# -- the service class, called directly ----------------------------------------------------
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

    info = run(service.model_info(s.ModelInfoRequest()))
    served = {m.name: m.version for m in info.models}
    assert served == served_champions(serving_home)
    # a family whose gate refused every version on this data (clv here) is listed, unloaded
    assert all(m.alias == "champion" and m.loaded_at for m in info.models if m.version)
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
    profile = json.loads(json.dumps(seg.model.profiles[expected], default=float))
    assert {k: v for k, v in out.profile.items() if k in profile} == profile
    # the customer-value figures join the profile when their families are served
    assert set(out.profile) - set(profile) <= {"mean_clv", "mean_churn_risk"}
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
    good = core.call("propensity", req)
    store = settings.feast_online_path
    moved = store.with_name("moved-away.db")
    store.rename(moved)
    try:
        for _ in range(3):  # stays a clean 503, however often it is asked
            with pytest.raises(Unavailable) as info:
                core.call("propensity", req)
            assert info.value.status == 503
            assert "online feature store is unavailable" in info.value.message
            with pytest.raises(Unavailable):
                core.call("segment", s.SegmentRequest(customer_id=ids.history_customer))
        # endpoints that need no features keep working
        assert core.call("recommend", s.RecommendRequest(customer_id=ids.history_customer)).items
    finally:
        moved.rename(store)
    assert core.call("propensity", req) == good
