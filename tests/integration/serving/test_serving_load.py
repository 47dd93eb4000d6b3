"""Bounded load test: a fixed number of requests from 8 concurrent clients, valid ones mixed
with malformed JSON, wrong types, huge bodies, NaN, other media types and unknown ids.

Pass criteria (issue 6, acceptance 2): no 5xx at all, every invalid request gets a 4xx, and
every valid request gets a 200 whose answer matches the champion's own method.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest

from models.propensity import MODEL_NAME as PROPENSITY
from models.recommendation import MODEL_NAME as RECOMMENDER
from serving.schemas import PropensityBatchRequest

pytestmark = pytest.mark.slow

N_REQUESTS = 1600
CONCURRENCY = 8


@dataclass
class Case:
    kind: str
    path: str
    content: bytes
    content_type: str
    expect_status: int
    check: Callable[[dict], bool] | None = None


def _features(rng: random.Random) -> dict:
    return {
        "recency_days": rng.uniform(0, 365),
        "frequency": rng.randint(0, 40),
        "monetary": rng.uniform(-50, 8000),
        "tenure_days": rng.uniform(0, 700),
        "avg_basket_value": rng.uniform(0, 900),
        "return_rate": rng.uniform(0, 1),
        "n_distinct_products": rng.randint(0, 300),
        "is_uk": rng.randint(0, 1),
    }


def build_cases(ids, rec, prop, online_probability: dict[str, float]) -> list[Case]:
    rng = random.Random(6)

    def js(obj) -> bytes:
        return json.dumps(obj).encode()

    def recommend(customer: str, known: bool) -> Case:
        k, exclude = rng.randint(1, 20), rng.random() < 0.7
        expected = [str(c) for c, _ in rec.model.recommend(customer, k=k, exclude_bought=exclude)]
        return Case(
            "valid recommend",
            "/recommend",
            js({"customer_id": customer, "k": k, "exclude_bought": exclude}),
            "application/json",
            200,
            lambda b: (
                [i["stock_code"] for i in b["items"]] == expected
                and b["cold_start"] is (not known)
                and b["model_version"] == rec.version
            ),
        )

    def similar(code: str) -> Case:
        expected = [str(c) for c, _ in rec.model.similar_items(code, k=5)]
        return Case(
            "valid similar_items",
            "/similar_items",
            js({"stock_code": code, "k": 5}),
            "application/json",
            200,
            lambda b: [i["stock_code"] for i in b["items"]] == expected,
        )

    def features() -> Case:
        f = _features(rng)
        p = prop.model.predict_proba(f)
        return Case(
            "valid propensity_features",
            "/propensity_features",
            js({"features": f}),
            "application/json",
            200,
            lambda b: (
                math.isclose(b["probability"], p, rel_tol=1e-9, abs_tol=1e-12)
                and b["model_version"] == prop.version
            ),
        )

    def propensity(customer: str) -> Case:
        p = online_probability.get(customer)
        return Case(
            "valid propensity",
            "/propensity",
            js({"customer_id": customer}),
            "application/json",
            200,
            lambda b: (
                (b["probability"] is None and p is None)
                or (p is not None and math.isclose(b["probability"], p, rel_tol=1e-9))
            ),
        )

    bad_nan = b'{"features": {"recency_days": NaN, "frequency": 1}}'
    junk: list[tuple[str, str, bytes, str, int]] = [
        ("malformed json", "/recommend", b'{"customer_id": "1"', "application/json", 400),
        ("malformed json", "/propensity_features", b"{features: 1}", "application/json", 400),
        ("not utf-8", "/recommend", b'{"customer_id": "\xff\xfe"}', "application/json", 400),
        ("deep nesting", "/recommend", b"[" * 20000, "application/json", 400),
        ("wrong type", "/recommend", js({"customer_id": {"a": 1}}), "application/json", 400),
        ("wrong type", "/recommend", js({"customer_id": "1", "k": 2.5}), "application/json", 400),
        ("wrong type", "/segment", js({"customer_id": None}), "application/json", 400),
        ("wrong type", "/propensity_features", js({"features": [1, 2]}), "application/json", 400),
        ("wrong type", "/recommend_batch", js({"customer_ids": "1,2"}), "application/json", 400),
        ("nan", "/propensity_features", bad_nan, "application/json", 400),
        ("nan", "/recommend", b'{"customer_id": NaN}', "application/json", 400),
        (
            "infinity",
            "/propensity_features_batch",
            b'{"rows": [Infinity]}',
            "application/json",
            400,
        ),
        (
            "huge body",
            "/recommend",
            b'{"customer_id": "' + b"9" * 3_000_000 + b'"}',
            "application/json",
            413,
        ),
        (
            "huge batch",
            "/propensity_batch",
            js({"customer_ids": ["1"] * 5000}),
            "application/json",
            400,
        ),
        ("media type", "/recommend", b"customer_id=1", "application/x-www-form-urlencoded", 415),
        ("media type", "/recommend", b"\x80\x04K\x01.", "application/vnd.bentoml+pickle", 415),
        ("empty body", "/similar_items", b"", "application/json", 400),
        (
            "unknown product",
            "/similar_items",
            js({"stock_code": "NOPE-1"}),
            "application/json",
            404,
        ),
        ("unknown field", "/segment", js({"customer": "1"}), "application/json", 400),
    ]
    cases: list[Case] = []
    known = ids.recommender_customers
    for i in range(N_REQUESTS):
        roll = i % 10
        if roll == 0:
            cases.append(recommend(rng.choice(known), True))
        elif roll == 1:
            cases.append(recommend(f"unknown-{rng.randint(0, 10**9)}", False))
        elif roll == 2:
            cases.append(similar(rng.choice(ids.products)))
        elif roll == 3:
            cases.append(features())
        elif roll == 4:
            cases.append(propensity(rng.choice([*ids.online_customers, ids.unknown_customer])))
        else:
            kind, path, content, ctype, status = rng.choice(junk)
            cases.append(Case(kind, path, content, ctype, status))
    rng.shuffle(cases)
    return cases


def test_bounded_load_with_garbage_has_no_5xx_and_correct_answers(
    server, api_key, core, ids
) -> None:
    current = core.tracker.current
    rec, prop = current.get(RECOMMENDER), current.get(PROPENSITY)
    probes = [*ids.online_customers, ids.unknown_customer]
    answers = core.call("propensity_batch", PropensityBatchRequest(customer_ids=probes)).results
    online = {cid: a.probability for cid, a in zip(probes, answers, strict=True)}
    cases = build_cases(ids, rec, prop, online)

    def worker(chunk: list[Case]) -> list[tuple[Case, int, bytes]]:
        out = []
        with httpx.Client(base_url=server.url, headers={"X-API-Key": api_key}, timeout=60) as c:
            for case in chunk:
                r = c.post(
                    case.path, content=case.content, headers={"Content-Type": case.content_type}
                )
                out.append((case, r.status_code, r.content))
        return out

    chunks = [cases[i::CONCURRENCY] for i in range(CONCURRENCY)]
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        results = [row for part in pool.map(worker, chunks) for row in part]

    assert len(results) == N_REQUESTS
    statuses = Counter(status for _, status, _ in results)
    assert not [s for s in statuses if s >= 500], f"5xx answers: {statuses}"
    wrong_status = Counter(
        (case.kind, case.expect_status, status)
        for case, status, _ in results
        if status != case.expect_status
    )
    assert not wrong_status, f"unexpected statuses (kind, expected, got): {wrong_status}"
    wrong_answer = [
        (case.kind, body[:200])
        for case, status, body in results
        if case.check is not None and not case.check(json.loads(body))
    ]
    assert not wrong_answer, f"{len(wrong_answer)} wrong answers, e.g. {wrong_answer[:3]}"
    for case, status, body in results:
        if status >= 400:
            assert json.loads(body)["error"], case.kind  # every refusal explains itself
