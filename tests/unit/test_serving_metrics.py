"""The service's request metrics: Prometheus' text format, bounded labels, and the guard's count
of every answer (refusals included), checked with prometheus_client's own parser."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families

from serving.guard import Guard
from serving.metrics import BUCKETS, RequestMetrics


def families(metrics: RequestMetrics) -> dict[str, dict[tuple, float]]:
    """{family name: {(sample name, sorted labels): value}} as Prometheus would read them."""
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            out.setdefault(family.name, {})[key] = sample.value
    return out


def test_counts_histogram_and_versions_parse_as_prometheus_text() -> None:
    metrics = RequestMetrics(["recommend", "propensity"])
    metrics.served_versions = lambda: {"mercato_recommender": "3", "mercato_propensity": None}
    for seconds, status in ((0.0002, 200), (0.003, 200), (0.003, 400), (20.0, 200)):
        metrics.started("recommend")
        metrics.finished("recommend", status, seconds)
    metrics.started("propensity")  # still running

    parsed = families(metrics)
    totals = parsed["mercato_http_requests"]
    for status, n in (("200", 3), ("400", 1)):
        labels = (("endpoint", "recommend"), ("status", status))
        assert totals[("mercato_http_requests_total", labels)] == n
    hist = parsed["mercato_http_request_duration_seconds"]

    def bucket(le: str) -> float:
        labels = (("endpoint", "recommend"), ("le", le))
        return hist[("mercato_http_request_duration_seconds_bucket", labels)]

    assert bucket("0.0005") == 1
    assert bucket("0.005") == 3  # cumulative
    assert bucket(repr(BUCKETS[-1])) == 3  # 20 s is beyond the last bound
    assert bucket("+Inf") == 4
    sums = hist[("mercato_http_request_duration_seconds_sum", (("endpoint", "recommend"),))]
    assert sums == pytest.approx(20.0062)
    running = parsed["mercato_http_requests_in_progress"]
    assert running[("mercato_http_requests_in_progress", (("endpoint", "propensity"),))] == 1
    assert running[("mercato_http_requests_in_progress", (("endpoint", "recommend"),))] == 0
    versions = parsed["mercato_served_model_version"]
    assert versions == {("mercato_served_model_version", (("model", "mercato_recommender"),)): 3}
    assert any(name.startswith("process_") for name in parsed)  # memory, CPU, open files


def test_labels_stay_bounded_and_probes_are_not_counted() -> None:
    metrics = RequestMetrics(["recommend"])
    assert metrics.endpoint_of("/recommend") == "recommend"
    assert {metrics.endpoint_of(f"/scan/{i}") for i in range(100)} == {"other"}
    for probe in ("/healthz", "/livez", "/readyz", "/metrics"):
        assert metrics.endpoint_of(probe) is None


async def _ok(scope, receive, send) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _slow(scope, receive, send) -> None:
    await asyncio.sleep(3600)


def drive(app, path: str, method: str = "POST", headers=()) -> tuple[int, bytes]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": list(headers)}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_guard_counts_answers_and_refusals_and_guards_the_scrape() -> None:
    metrics = RequestMetrics(["recommend"])
    app = Guard(_ok, api_key="k", max_body=100, metrics=metrics)
    key = [(b"x-api-key", b"k")]
    assert drive(app, "/recommend", headers=key)[0] == 200
    assert drive(app, "/recommend")[0] == 401
    assert drive(app, "/recommend", headers=[*key, (b"content-type", b"text/csv")])[0] == 415
    assert drive(app, "/readyz", method="GET")[0] == 200  # open, and not counted

    assert drive(app, "/metrics", method="GET")[0] == 401
    status, body = drive(app, "/metrics", method="GET", headers=key)
    assert status == 200
    assert 'mercato_http_requests_total{endpoint="recommend",status="200"} 1' in body.decode()
    assert metrics.requests == {("recommend", 200): 1, ("recommend", 401): 1, ("recommend", 415): 1}
    assert metrics.in_progress["recommend"] == 0


def test_a_request_cancelled_by_the_timeout_counts_as_504() -> None:
    metrics = RequestMetrics(["recommend"])
    app = Guard(_slow, api_key="", max_body=100, metrics=metrics)

    async def call_with_timeout() -> None:
        async def receive():
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message):
            pass

        scope = {"type": "http", "method": "POST", "path": "/recommend", "headers": []}
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(app(scope, receive, send), 0.05)

    asyncio.run(call_with_timeout())
    assert metrics.requests == {("recommend", 504): 1}
    assert metrics.in_progress["recommend"] == 0


def test_without_metrics_the_scrape_path_is_left_to_the_app() -> None:
    app = Guard(_ok, api_key="", max_body=100)
    assert drive(app, "/metrics", method="GET") == (200, b"{}")
