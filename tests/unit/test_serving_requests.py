"""Serving without a server: request validation and the guard middleware driven as ASGI."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import ValidationError

from features import CUSTOMER_FEATURES
from serving import schemas as s
from serving.apis.propensity import EXAMPLE_FEATURES as FEATURES


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
