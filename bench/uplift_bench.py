"""Training time of the uplift family and throughput / p99 of its endpoints, on the Hillstrom file.

Ingests ``--data`` (default: the shared MineThatData file) into a temporary data folder, builds
the campaign marts, trains the ``uplift`` family (timed: the learner choice on validation, the
three learners and two baselines, the planner's calibration, logging and the gate), then starts
``bentoml serve`` on it and sends ``--requests`` requests per endpoint over keep-alive
connections (the small asyncio client of ``bench/serving_bench.py``), at one and eight
connections, after a warm-up: ``/uplift`` (one customer), ``/uplift_batch`` (100 customers) and
``/campaign_plan`` (all 64,000 candidates). Prints JSON.

    python bench/uplift_bench.py [--requests 3000] [--out FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from serving_bench import _request, load

from mercato.settings import REPO_ROOT, apply_runtime_env, get_settings

API_KEY = "uplift-bench-key"
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "campaigns" / "hillstrom.csv"


def _stats(result: dict) -> dict:
    latencies = sorted(result["latencies"])
    n = len(latencies)
    return {
        "requests_per_s": round(n / result["seconds"], 1),
        "p50_ms": round(1000 * statistics.median(latencies), 2),
        "p99_ms": round(1000 * latencies[min(n - 1, int(0.99 * n))], 2),
        "statuses": {str(k): v for k, v in result["statuses"].items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from pipeline import stages
    from serving.launch import free_port, start_background

    out: dict = {"data": str(args.data)}
    with tempfile.TemporaryDirectory(prefix="mercato-uplift-bench-") as tmp:
        settings = dataclasses.replace(
            get_settings(), home=Path(tmp) / "home", mlflow_tracking_uri="", api_key=API_KEY
        )
        settings.ensure_dirs()
        apply_runtime_env(settings)
        tick = time.perf_counter()
        stages.ingest(settings, args.data)
        out["ingest_seconds"] = round(time.perf_counter() - tick, 1)
        tick = time.perf_counter()
        stages.transform(settings, select="+campaign_exposures +dim_campaigns")
        out["transform_seconds"] = round(time.perf_counter() - tick, 1)
        tick = time.perf_counter()
        result = stages.train(settings, "uplift")
        out["train_seconds"] = round(time.perf_counter() - tick, 1)
        out["train"] = {k: result[k] for k in ("version", "promoted", "decision")}
        out["chosen"] = result["details"]["chosen"]

        from models import registry
        from models.uplift import MODEL_NAME

        if not result["promoted"]:
            # the gate's refusal is reported above; serve the version anyway to time it
            registry.promote(settings, MODEL_NAME, str(result["version"]))
        model, _ = registry.load_champion(settings, MODEL_NAME)
        customers = [str(c) for c in model.customer_ids]
        campaign = model.campaigns[0]
        rng = random.Random(0)
        port = free_port()
        bodies = {
            "uplift": lambda: {"customer_id": rng.choice(customers), "campaign": campaign},
            "uplift_batch": lambda: {
                "customer_ids": rng.sample(customers, 100),
                "campaign": campaign,
            },
            "campaign_plan": lambda: {
                "campaign": campaign,
                "budget": 2000.0,
                "cost_per_contact": 0.5,
                "value_per_conversion": 100.0,
                "audience_limit": 10,
            },
        }
        proc = start_background(settings, port=port, timeout=300)
        try:
            out["serving"] = {}
            for name, body in bodies.items():
                n = args.requests if name != "campaign_plan" else max(20, args.requests // 100)
                warm = [_request(port, name, body(), API_KEY) for _ in range(min(n, 500))]
                load(port, warm, 1)
                for concurrency in (1, 8):
                    requests = [_request(port, name, body(), API_KEY) for _ in range(n)]
                    out["serving"][f"{name}@{concurrency}"] = _stats(
                        load(port, requests, concurrency)
                    )
        finally:
            proc.stop()
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
