"""Session intent and ad response: quality, training time and serving latency, as JSON.

1. **Session intent on the real sessions file** (``../shared/data/sessions/``; ``--sessions``
   for another): the file is landed and transformed in a fresh data folder, then the
   calibrated logistic regression, the calibrated gradient boosting and the page-value rule
   are fitted on the same stratified 75% and scored on the same 25%: ROC-AUC, PR-AUC, log
   loss, Brier, ECE and the calibration deciles, and each model's training time.
2. **Ad response on generated impressions** (``--impressions`` of them, time-ordered hold-out):
   the hashed logistic regression (both heads), gradient boosting and the placement-campaign
   rate, with training times.
3. **Serving**: both families trained in that folder (``mercato train``), ``bentoml serve``
   started on 127.0.0.1, then ``--requests`` sequential requests at one client (keep-alive)
   per endpoint after a warm-up: throughput, p50 and p99. Goal: ``/session_intent`` p99 under
   10 ms.

    .venv/bin/python bench/campaign_bench.py [--requests N] [--impressions N] [--skip-serving]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from mercato.settings import REPO_ROOT, get_settings

SESSIONS_FILE = REPO_ROOT.parent / "shared" / "data" / "sessions" / "online_shoppers_intention.csv"
END_DATE = date(2026, 11, 28)
GOAL_P99_MS = 10.0


def _round(d: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}


def session_quality(settings, path: Path) -> dict:
    from models.session_intent import compare, load_sessions, stratified_split
    from pipeline import stages

    stages.ingest(settings, path)
    stages.transform(settings, select="stg_sessions fct_sessions")
    train, test = stratified_split(load_sessions(settings), seed=settings.seed)
    result = compare(train, test, settings.seed)
    return {
        "file": str(path),
        "holdout": "stratified 25%",
        "n_train": len(train),
        "n_test": len(test),
        "served": result["chosen"],
        "cv_log_loss": _round(result["cv_log_loss"]),
        "fit_seconds": _round(result["fit_seconds"]),
        "hold_out": {k: _round(v) for k, v in result["hold_out"].items()},
        "calibration_deciles": {
            k: [_round(r) for r in v] for k, v in result["calibration"].items()
        },
    }


def ad_quality(settings, n: int) -> dict:
    from models.ad_response import compare, load_impressions, time_split
    from pipeline import stages
    from warehouse.synthetic_ads import write_impressions

    path = write_impressions(settings.home / "impressions.csv", n, seed=1, end_date=END_DATE)
    stages.ingest(settings, path)
    stages.transform(settings, select="stg_ad_impressions fct_ad_impressions")
    train, test = time_split(load_impressions(settings))
    result = compare(train, test, settings.seed)
    return {
        "n_train": len(train),
        "n_test": len(test),
        "holdout": "last 20% by shown_at",
        "negative_rate": round(result["negative_rate"], 4),
        "fit_seconds": _round(result["fit_seconds"]),
        "hold_out": {k: _round(v) for k, v in result["hold_out"].items()},
    }


def serving(settings, requests: int) -> dict:
    import httpx

    from pipeline import stages
    from serving.apis.ad_response import EXAMPLE_IMPRESSION
    from serving.apis.session_intent import EXAMPLE_SESSION
    from serving.launch import free_port, start_background

    trained = {}
    for family in ("session_intent", "ad_response"):
        tick = time.perf_counter()
        result = stages.train(settings, family)
        trained[family] = {
            "train_seconds": round(time.perf_counter() - tick, 2),
            "promoted": result["promoted"],
        }
    bodies = {
        "session_intent": EXAMPLE_SESSION,
        "session_intent_batch": {"sessions": [EXAMPLE_SESSION] * 100},
        "ad_response": EXAMPLE_IMPRESSION,
        "ad_response_batch": {"impressions": [EXAMPLE_IMPRESSION] * 100},
    }
    proc = start_background(settings, port=free_port(), timeout=300)
    out = {"mercato_train": trained, "endpoints": {}}
    try:
        with httpx.Client(base_url=proc.url, timeout=30) as client:
            for name, body in bodies.items():
                n = requests if not name.endswith("batch") else max(requests // 10, 50)
                for _ in range(min(500, n)):
                    client.post(f"/{name}", json=body).raise_for_status()
                latencies = []
                start = time.perf_counter()
                for _ in range(n):
                    tick = time.perf_counter()
                    client.post(f"/{name}", json=body).raise_for_status()
                    latencies.append((time.perf_counter() - tick) * 1000)
                elapsed = time.perf_counter() - start
                latencies.sort()
                out["endpoints"][name] = {
                    "requests": n,
                    "clients": 1,
                    "throughput_rps": round(n / elapsed, 1),
                    "p50_ms": round(statistics.median(latencies), 3),
                    "p99_ms": round(latencies[int(0.99 * (n - 1))], 3),
                }
    finally:
        proc.stop()
    p99 = out["endpoints"]["session_intent"]["p99_ms"]
    out["goal"] = {"session_intent_p99_ms_below": GOAL_P99_MS, "met": p99 < GOAL_P99_MS}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=Path, default=SESSIONS_FILE)
    parser.add_argument("--impressions", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--skip-serving", action="store_true")
    args = parser.parse_args(argv)
    if not args.sessions.is_file():
        parser.error(f"no sessions file at {args.sessions}")
    with tempfile.TemporaryDirectory(prefix="campaign-bench-") as tmp:
        settings = dataclasses.replace(get_settings(), home=Path(tmp) / "home")
        settings = dataclasses.replace(settings, mlflow_tracking_uri="")
        settings.ensure_dirs()
        report = {
            "session_intent": session_quality(settings, args.sessions),
            "ad_response": ad_quality(settings, args.impressions),
        }
        if not args.skip_serving:
            report["serving"] = serving(settings, args.requests)
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
