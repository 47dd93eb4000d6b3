"""Benchmark the HTTP service against a bare FastAPI/uvicorn app serving the same model code.

Both servers run ``serving.core.MercatoCore`` on the same champions and online store, one worker
each, on 127.0.0.1; the BentoML one is the real service (``bentoml serve``, with its guard
middleware, validation, metrics and tracing), the bare one is FastAPI with the same pydantic
request models. For each endpoint (recommendations, propensity from the online store,
propensity from explicit features, the support assistant ``/assist``) and each concurrency
(1 and 8 connections), a fixed number of requests is sent over keep-alive connections by a
small asyncio HTTP/1.1 client (so the client costs little next to the servers; it shares the
machine's 2 cores with them).
Each server gets the same requests in rounds of a few seconds, alternating, and a warm-up of
2,000 requests per endpoint first. It reports throughput (median over rounds) and p50/p99
latency of both, and BentoML's share of the bare throughput.

Then a memory run: after a warm-up, 50,000 mixed requests to the BentoML service; the resident
memory of its worker is compared before and after (goal: within 5%).

With ``--workers N`` it measures the service against itself instead: one server with 1 worker
and one with N (``MERCATO_SERVE_WORKERS``), the same requests alternating between them in
rounds, at 1 and 8 connections, and prints the throughput ratio N workers / 1 worker per
endpoint. Connections are kept alive, so a connection stays with the worker that accepted it;
the client runs on the same cores as the servers.

The data folder must hold champions and a materialized online store (``mercato run``); with
``--prepare`` a synthetic pipeline run makes one if it has none.

    .venv/bin/python bench/serving_bench.py [--home DIR] [--requests N] [--memory-requests N]
    .venv/bin/python bench/serving_bench.py --workers 2 [--endpoints recommend,propensity]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from mercato.settings import Settings, apply_runtime_env, get_settings
from serving import schemas as s  # module level: FastAPI resolves the annotations here
from serving.apis.assist import AssistRequest, AssistResponse

HOST = "127.0.0.1"
ENDPOINTS = (
    "recommend",
    "propensity",
    "propensity_features",
    "propensity_features_batch",
    "assist",
)
#: mixed into the memory run: the single-customer endpoints
SINGLE_ENDPOINTS = ENDPOINTS[:3]
#: the endpoints the throughput goal names (recommendations, propensity of a customer)
GOAL_ENDPOINTS = ("recommend", "propensity")
BATCH_ROWS = 100
GOALS = {
    "throughput_share": 0.80,
    "p99_ms_c1": 15.0,
    "memory_growth": 0.05,
    "assist_p99_ms_c1": 20.0,
}


# -- the bare app -------------------------------------------------------------------------------
def bare_app(settings: Settings):  # type: ignore[no-untyped-def]
    """FastAPI app with the service's endpoints over the same ``MercatoCore`` and the same
    answer serialization (``serving.core.answer``), nothing else."""
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse, Response

    from serving.core import MercatoCore, answer

    core = MercatoCore(settings, poll_seconds=0)
    core.start()

    def bound(name: str):  # type: ignore[no-untyped-def]
        """The endpoint's handler on this core, as the service's API method calls it."""
        handler = core.endpoints[name].handler
        return lambda request: handler(core, request)

    handlers = {name: bound(name) for name in core.endpoints}
    app = FastAPI()

    @app.get("/readyz")
    async def readyz():  # type: ignore[no-untyped-def]
        return PlainTextResponse("\n")

    @app.post("/recommend", response_model=s.RecommendResponse)
    async def recommend(request: s.RecommendRequest) -> Response:
        return answer(handlers["recommend"], request)

    @app.post("/propensity", response_model=s.PropensityResponse)
    def propensity(request: s.PropensityRequest) -> Response:
        return answer(handlers["propensity"], request)

    @app.post("/propensity_features", response_model=s.PropensityFeaturesResponse)
    async def propensity_features(request: s.PropensityFeaturesRequest) -> Response:
        return answer(handlers["propensity_features"], request)

    @app.post("/propensity_features_batch", response_model=s.PropensityFeaturesBatchResponse)
    async def propensity_features_batch(request: s.PropensityFeaturesBatchRequest) -> Response:
        return answer(handlers["propensity_features_batch"], request)

    @app.post("/assist", response_model=AssistResponse)
    def assist(request: AssistRequest) -> Response:
        return answer(handlers["assist"], request)

    return app


def _run_bare(port: int) -> None:
    import uvicorn

    settings = get_settings()
    apply_runtime_env(settings)
    uvicorn.run(bare_app(settings), host=HOST, port=port, log_level="warning", access_log=False)


def start_bare(settings: Settings, port: int, log_path: Path):  # type: ignore[no-untyped-def]
    """The bare app in a subprocess of its own (same environment as the BentoML server)."""
    from serving.launch import server_env, start_process

    args = [sys.executable, __file__, "--bare-app-port", str(port)]
    return start_process(args, server_env(settings), HOST, port, log_path, name="the bare app")


# -- a small keep-alive HTTP/1.1 client ---------------------------------------------------------
def _request(port: int, path: str, body: dict, api_key: str) -> bytes:
    payload = json.dumps(body).encode()
    auth = f"X-API-Key: {api_key}\r\n" if api_key else ""
    head = (
        f"POST /{path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n{auth}\r\n"
    )
    return head.encode() + payload


async def _connection(port: int, requests: list[bytes], latencies: list[float], statuses: dict):
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        for raw in requests:
            tick = time.perf_counter()
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - tick)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def _load(port: int, requests: list[bytes], concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    parts = [requests[i::concurrency] for i in range(concurrency)]
    tick = time.perf_counter()
    await asyncio.gather(*(_connection(port, p, latencies, statuses) for p in parts))
    seconds = time.perf_counter() - tick
    return {"seconds": seconds, "latencies": latencies, "statuses": statuses}


def load(port: int, requests: list[bytes], concurrency: int) -> dict[str, Any]:
    """Send ``requests`` over ``concurrency`` keep-alive connections (uvloop when available)."""
    try:
        import uvloop

        return uvloop.run(_load(port, requests, concurrency))
    except ImportError:
        return asyncio.run(_load(port, requests, concurrency))


def measure(ports: dict[str, int], requests: dict[str, list[bytes]], concurrency: int, rounds: int):
    """Alternate the servers over ``rounds`` slices of the requests, so that load from anything
    else on the machine hits both alike; throughput is the median over rounds, latency
    percentiles are over every request."""
    out: dict[str, dict[str, Any]] = {}
    names = list(ports)
    per_round: dict[str, list[float]] = {n: [] for n in names}
    latencies: dict[str, list[float]] = {n: [] for n in names}
    statuses: dict[str, dict[int, int]] = {n: {} for n in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            reqs = requests[name][r::rounds]
            stats = load(ports[name], reqs, concurrency)
            per_round[name].append(len(stats["latencies"]) / stats["seconds"])
            latencies[name] += stats["latencies"]
            for k, v in stats["statuses"].items():
                statuses[name][k] = statuses[name].get(k, 0) + v
    for name in names:
        ms = sorted(x * 1000 for x in latencies[name])
        out[name] = {
            "requests": len(ms),
            "rps": round(statistics.median(per_round[name]), 1),
            "rps_rounds": [round(x, 1) for x in per_round[name]],
            "p50_ms": round(statistics.median(ms), 3),
            "p99_ms": round(ms[min(len(ms) - 1, int(0.99 * len(ms)))], 3),
            "statuses": {str(k): v for k, v in sorted(statuses[name].items())},
        }
    return out


# -- workload -----------------------------------------------------------------------------------
def workload(settings: Settings, n: int, seed: int = 0) -> dict[str, list[dict]]:
    """Request bodies per endpoint: known customers (with history and online features)."""
    from models.recommendation import MODEL_NAME as RECOMMENDER
    from serving.core import MercatoCore

    core = MercatoCore(settings, poll_seconds=0)
    core.start()
    rec = core.tracker.current.get(RECOMMENDER).model
    users = [str(u) for u in rec.user_ids]
    rng = random.Random(seed)
    sample = rng.sample(users, min(500, len(users)))
    _, known = core.features.rows(sample)
    online = [u for u, k in zip(sample, known, strict=True) if k] or sample
    assist = assist_messages(settings, rng)
    core.stop()

    def features() -> dict:
        return {
            "recency_days": rng.uniform(0, 365),
            "frequency": rng.randint(0, 40),
            "monetary": rng.uniform(0, 8000),
            "tenure_days": rng.uniform(0, 700),
            "avg_basket_value": rng.uniform(0, 900),
            "return_rate": rng.uniform(0, 0.5),
            "n_distinct_products": rng.randint(0, 300),
            "is_uk": rng.randint(0, 1),
        }

    return {
        "recommend": [{"customer_id": rng.choice(sample), "k": 10} for _ in range(n)],
        "propensity": [{"customer_id": rng.choice(online)} for _ in range(n)],
        "propensity_features": [{"features": features()} for _ in range(n)],
        # a tenth as many requests, each scoring BATCH_ROWS rows
        "propensity_features_batch": [
            {"rows": [features() for _ in range(BATCH_ROWS)]} for _ in range(max(1, n // 10))
        ],
        "assist": [rng.choice(assist) for _ in range(n)],
    }


def assist_messages(settings: Settings, rng: random.Random) -> list[dict]:
    """``/assist`` bodies of every kind: own orders, others' invoices, policies, a product with
    a typo, a request for a person and a guest's question."""
    from warehouse import reader

    invoices = reader.query(
        settings,
        "select invoice_no, any_value(customer_id) as customer_id from main.fct_order_lines "
        "where customer_id is not null and not is_cancellation group by 1 order by 1 limit 400",
    )
    names = reader.query(
        settings, "select description from main.dim_products where description like '% %' limit 50"
    )["description"].tolist()
    pairs = list(zip(invoices["invoice_no"], invoices["customer_id"], strict=True))
    out = []
    for _ in range(400):
        invoice, customer = rng.choice(pairs)
        other, _ = rng.choice(pairs)
        name = str(rng.choice(names)).lower()
        typo = name[:3] + name[4:]
        out += [
            {"customer_id": customer, "message": f"where is my order {invoice}?"},
            {"customer_id": customer, "message": f"what is on invoice {other}"},
            {"customer_id": customer, "message": "what is your refund policy"},
            {"message": "is there a fee to cancel"},
            {"customer_id": customer, "message": f"I want to buy a {typo}"},
            {"customer_id": customer, "message": "I want to talk to a human"},
        ]
    return out


def worker_rss(pid: int) -> tuple[int, int]:
    """(RSS of the largest process in the server's tree, RSS of the whole tree), bytes."""
    import psutil

    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    rss = [p.memory_info().rss for p in procs if p.is_running()]
    return max(rss), sum(rss)


# -- the run ------------------------------------------------------------------------------------
#: the registered model each measured endpoint answers with
ENDPOINT_MODELS = {
    "recommend": "mercato_recommender",
    "propensity": "mercato_propensity",
    "propensity_features": "mercato_propensity",
    "propensity_features_batch": "mercato_propensity",
    "assist": "mercato_intent",
}


def _has_champions(settings: Settings, endpoints: tuple[str, ...] = ENDPOINTS) -> bool:
    """Whether the models the measured endpoints answer with all have a champion."""
    from models import registry

    try:
        champions = registry.champions(settings)
        return all(champions.get(ENDPOINT_MODELS[e]) for e in endpoints)
    except Exception:  # noqa: BLE001 - an empty folder has no registry yet
        return False


def run(
    settings: Settings,
    requests: int = 12_000,
    memory_requests: int = 50_000,
    rounds: int = 4,
    metrics: bool = True,
    endpoints: tuple[str, ...] = ENDPOINTS,
) -> dict[str, Any]:
    from serving.launch import free_port, start_background

    apply_runtime_env(settings)
    out_dir = settings.home / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    bodies = workload(settings, max(requests, 2000))
    result: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "home": str(settings.home),
        "requests_per_run": requests,
        "rounds": rounds,
        "bentoml_metrics": metrics,
        "cpu_count": os.cpu_count(),
        "runs": [],
    }
    bento = start_background(
        settings,
        port=free_port(),
        timeout=300,
        extra_env={"MERCATO_SERVING_METRICS": "1" if metrics else "0"},
    )
    try:
        bare = start_bare(settings, free_port(), out_dir / "bare-app.log")
    except BaseException:
        bento.stop()
        raise
    try:
        ports = {"bentoml": bento.port, "bare_fastapi": bare.port}
        key = settings.api_key
        for endpoint in endpoints:
            batch = endpoint == "propensity_features_batch"
            n = max(rounds, requests // 10) if batch else requests
            for port in ports.values():  # warm both up
                warm = bodies[endpoint][: max(20, n // 6)]
                load(port, [_request(port, endpoint, b, key) for b in warm], 4)
            for concurrency in (1, 8):
                reqs = {
                    name: [_request(port, endpoint, b, key) for b in bodies[endpoint][:n]]
                    for name, port in ports.items()
                }
                for name, stats in measure(ports, reqs, concurrency, rounds).items():
                    stats.update(server=name, endpoint=endpoint, concurrency=concurrency)
                    result["runs"].append(stats)
                    print(
                        f"  {endpoint:<20} c={concurrency} {name:<13} {stats['rps']:8.1f} rps  "
                        f"p50 {stats['p50_ms']:6.2f} ms  p99 {stats['p99_ms']:6.2f} ms  "
                        f"{stats['statuses']}",
                        flush=True,
                    )
        bare.stop()
        if memory_requests > 0:
            result["memory"] = memory_run(bento.pid, bento.port, bodies, key, memory_requests)
    finally:
        try:
            bare.stop()
        finally:
            bento.stop()
    result["summary"] = summarise(result)
    path = out_dir / f"serving-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2))
    result["path"] = str(path)
    return result


def workers_run(
    settings: Settings,
    workers: int,
    requests: int = 12_000,
    rounds: int = 4,
    endpoints: tuple[str, ...] = GOAL_ENDPOINTS,
    metrics: bool = True,
) -> dict[str, Any]:
    """Requests/s of the service with 1 worker and with ``workers``, on the same requests.

    Both servers run at once (each idle while the other is measured) and get the same request
    bodies in alternating rounds (``measure``), so load from anything else on the machine hits
    both alike. Every worker must have answered before measuring starts (``/readyz`` is 200 as
    soon as the first one is up).
    """
    from serving.launch import answering_workers, free_port, start_background

    apply_runtime_env(settings)
    out_dir = settings.home / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    bodies = workload(settings, max(requests, 2000))
    counts = {"1 worker": 1, f"{workers} workers": workers}
    result: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "home": str(settings.home),
        "requests_per_run": requests,
        "rounds": rounds,
        "cpu_count": os.cpu_count(),
        "workers": workers,
        "runs": [],
    }
    servers = []
    try:
        for name, count in counts.items():
            port = free_port()
            servers.append(
                start_background(
                    settings,
                    port=port,
                    timeout=300,
                    log_path=out_dir / f"bentoml-{count}-workers.log",
                    extra_env={
                        "MERCATO_SERVE_WORKERS": str(count),
                        "MERCATO_SERVING_METRICS": "1" if metrics else "0",
                    },
                )
            )
            pids = answering_workers(servers[-1].url, count, api_key=settings.api_key)
            print(f"  {name}: pids {sorted(pids)} on port {port}", flush=True)
        ports = {name: server.port for name, server in zip(counts, servers, strict=True)}
        key = settings.api_key
        for endpoint in endpoints:
            batch = endpoint == "propensity_features_batch"
            n = max(rounds, requests // 10) if batch else requests
            for port in ports.values():
                warm = bodies[endpoint][: max(20, n // 6)]
                load(port, [_request(port, endpoint, b, key) for b in warm], 8)
            for concurrency in (1, 8):
                reqs = {
                    name: [_request(port, endpoint, b, key) for b in bodies[endpoint][:n]]
                    for name, port in ports.items()
                }
                for name, stats in measure(ports, reqs, concurrency, rounds).items():
                    stats.update(
                        server=name,
                        workers=counts[name],
                        endpoint=endpoint,
                        concurrency=concurrency,
                    )
                    result["runs"].append(stats)
                    print(
                        f"  {endpoint:<20} c={concurrency} {name:<10} {stats['rps']:8.1f} rps  "
                        f"p50 {stats['p50_ms']:6.2f} ms  p99 {stats['p99_ms']:6.2f} ms  "
                        f"{stats['statuses']}",
                        flush=True,
                    )
    finally:
        for server in servers:
            server.stop()
    result["ratios"] = worker_ratios(result["runs"], workers)
    path = out_dir / f"serving-workers-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2))
    result["path"] = str(path)
    return result


def worker_ratios(runs: list[dict[str, Any]], workers: int) -> list[dict[str, Any]]:
    """Per endpoint and concurrency: requests/s with 1 and ``workers`` workers, and their ratio."""
    by_key = {(r["endpoint"], r["concurrency"], r["workers"]): r for r in runs}
    rows = []
    for endpoint, concurrency, count in by_key:
        if count != 1:
            continue
        one, many = by_key[(endpoint, concurrency, 1)], by_key[(endpoint, concurrency, workers)]
        rows.append(
            {
                "endpoint": endpoint,
                "concurrency": concurrency,
                "rps_1": one["rps"],
                f"rps_{workers}": many["rps"],
                "ratio": round(many["rps"] / one["rps"], 3),
                "p99_ms_1": one["p99_ms"],
                f"p99_ms_{workers}": many["p99_ms"],
            }
        )
    return rows


def print_ratios(rows: list[dict[str, Any]], workers: int) -> None:
    print(
        f"\n| endpoint | c | 1 worker rps | {workers} workers rps | ratio | p99 ms 1 / {workers} |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['endpoint']} | {r['concurrency']} | {r['rps_1']:.0f} | "
            f"{r[f'rps_{workers}']:.0f} | {r['ratio']:.2f} | {r['p99_ms_1']:.2f} / "
            f"{r[f'p99_ms_{workers}']:.2f} |"
        )


def memory_run(
    pid: int, port: int, bodies: dict[str, list[dict]], key: str, total: int
) -> dict[str, Any]:
    """RSS of the BentoML worker after a warm-up and after ``total`` more mixed requests."""
    mixed = [
        _request(port, endpoint, body, key)
        for i in range(len(bodies["recommend"]))
        for endpoint, body in ((e, bodies[e][i]) for e in SINGLE_ENDPOINTS)
    ]
    # Warm up for longer than the service's request timeout (10 s): BentoML keeps one timer per
    # request for that long, so memory only reaches its steady state after it.
    warm_until = time.monotonic() + 20
    while time.monotonic() < warm_until:
        load(port, mixed[:3000], 8)
    before, before_tree = worker_rss(pid)
    sent = 0
    statuses: dict[str, int] = {}
    tick = time.perf_counter()
    while sent < total:
        batch = mixed[: min(len(mixed), total - sent)]
        stats = load(port, batch, 8)
        for k, v in stats["statuses"].items():
            statuses[str(k)] = statuses.get(str(k), 0) + v
        sent += len(batch)
    seconds = time.perf_counter() - tick
    after, after_tree = worker_rss(pid)
    growth = (after - before) / before
    print(
        f"  memory: worker RSS {before / 2**20:.1f} MiB -> {after / 2**20:.1f} MiB after "
        f"{sent} requests ({growth:+.2%}); whole tree {before_tree / 2**20:.1f} -> "
        f"{after_tree / 2**20:.1f} MiB; {statuses}",
        flush=True,
    )
    return {
        "requests": sent,
        "seconds": round(seconds, 1),
        "worker_rss_before_mib": round(before / 2**20, 1),
        "worker_rss_after_mib": round(after / 2**20, 1),
        "tree_rss_before_mib": round(before_tree / 2**20, 1),
        "tree_rss_after_mib": round(after_tree / 2**20, 1),
        "growth": round(growth, 4),
        "statuses": statuses,
    }


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """BentoML vs bare per endpoint and concurrency, and the goals met or not."""
    by_key = {(r["endpoint"], r["concurrency"], r["server"]): r for r in result["runs"]}
    rows = []
    measured = dict.fromkeys(r["endpoint"] for r in result["runs"])
    for endpoint in measured:
        for concurrency in (1, 8):
            b = by_key[(endpoint, concurrency, "bentoml")]
            f = by_key[(endpoint, concurrency, "bare_fastapi")]
            rows.append(
                {
                    "endpoint": endpoint,
                    "concurrency": concurrency,
                    "bentoml_rps": b["rps"],
                    "bare_rps": f["rps"],
                    "share": round(b["rps"] / f["rps"], 3),
                    "bentoml_p50_ms": b["p50_ms"],
                    "bentoml_p99_ms": b["p99_ms"],
                    "bare_p50_ms": f["p50_ms"],
                    "bare_p99_ms": f["p99_ms"],
                }
            )
    memory = result.get("memory", {})
    goal = GOALS["throughput_share"]
    return {
        "rows": rows,
        "throughput_goal_met": all(
            r["share"] >= goal for r in rows if r["endpoint"] in GOAL_ENDPOINTS
        ),
        "below_throughput_goal": [
            f"{r['endpoint']} c={r['concurrency']}" for r in rows if r["share"] < goal
        ],
        "p99_goal_met": all(
            r["bentoml_p99_ms"] < GOALS["p99_ms_c1"]
            for r in rows
            if r["concurrency"] == 1 and r["endpoint"] != "assist"
        ),
        "memory_goal_met": abs(memory.get("growth", 1.0)) <= GOALS["memory_growth"],
        "assist_p99_goal_met": all(
            r["bentoml_p99_ms"] < GOALS["assist_p99_ms_c1"]
            for r in rows
            if r["endpoint"] == "assist" and r["concurrency"] == 1
        ),
    }


def print_summary(summary: dict[str, Any]) -> None:
    print(
        "\n| endpoint | c | BentoML rps | bare rps | share | BentoML p50/p99 ms | bare p50/p99 ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in summary["rows"]:
        print(
            f"| {r['endpoint']} | {r['concurrency']} | {r['bentoml_rps']:.0f} | "
            f"{r['bare_rps']:.0f} | {r['share']:.0%} | {r['bentoml_p50_ms']:.2f} / "
            f"{r['bentoml_p99_ms']:.2f} | {r['bare_p50_ms']:.2f} / {r['bare_p99_ms']:.2f} |"
        )
    print(
        f"\ngoals: throughput >= 80% of bare on {', '.join(GOAL_ENDPOINTS)}: "
        f"{summary['throughput_goal_met']} (below 80%: "
        f"{', '.join(summary['below_throughput_goal']) or 'none'}); "
        f"p99 < 15 ms at c=1: {summary['p99_goal_met']}; "
        f"memory within 5%: {summary['memory_goal_met']}; "
        f"/assist p99 < 20 ms at c=1: {summary['assist_p99_goal_met']}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--home", type=Path, help="data folder with champions (default: MERCATO_HOME)"
    )
    parser.add_argument("--requests", type=int, default=12_000, help="requests per measurement")
    parser.add_argument("--memory-requests", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=4, help="alternations of the two servers")
    parser.add_argument(
        "--no-metrics", action="store_true", help="the service without its request metrics"
    )
    parser.add_argument("--prepare", action="store_true", help="run the pipeline if no champions")
    parser.add_argument(
        "--endpoints",
        default=None,
        help=f"comma-separated endpoints to measure (default: all of {', '.join(ENDPOINTS)})",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="compare the service with 1 and N workers (instead of against the bare app); "
        "default endpoints: " + ",".join(GOAL_ENDPOINTS),
    )
    parser.add_argument("--bare-app-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bare_app_port:
        _run_bare(args.bare_app_port)
        return 0
    settings = get_settings()
    if args.home:
        settings = dataclasses.replace(settings, home=args.home.expanduser().resolve())
    apply_runtime_env(settings)
    if args.workers is not None and args.workers < 2:
        print("--workers takes 2 or more (it is compared with 1 worker)", file=sys.stderr)
        return 2
    chosen = args.endpoints or ",".join(GOAL_ENDPOINTS if args.workers else ENDPOINTS)
    endpoints = tuple(e.strip() for e in chosen.split(",") if e.strip())
    unknown = [e for e in endpoints if e not in ENDPOINTS]
    if unknown or not endpoints:
        print(f"unknown endpoints {unknown}; choose from {', '.join(ENDPOINTS)}", file=sys.stderr)
        return 2
    if not _has_champions(settings, endpoints):
        if not args.prepare:
            print(
                f"no champions in {settings.home}: run `mercato run` first, or pass --prepare",
                file=sys.stderr,
            )
            return 2
        from pipeline.stages import run_all
        from warehouse.synthetic import write_orders

        settings.ensure_dirs()
        data = write_orders(
            settings.landing_dir / "synthetic_orders.parquet",
            seed=settings.seed,
            end_date=date.today(),
        )
        run_all(settings, data)
    print(
        f"serving bench on {settings.home} ({args.requests} requests per measurement, "
        f"BentoML metrics {'off' if args.no_metrics else 'on'})"
    )
    if args.workers:
        result = workers_run(
            settings,
            args.workers,
            args.requests,
            args.rounds,
            endpoints=endpoints,
            metrics=not args.no_metrics,
        )
        print_ratios(result["ratios"], args.workers)
        print(f"\nfigures written to {result['path']}")
        return 0
    result = run(
        settings,
        args.requests,
        args.memory_requests,
        args.rounds,
        metrics=not args.no_metrics,
        endpoints=endpoints,
    )
    print_summary(result["summary"])
    print(f"\nfigures written to {result['path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
