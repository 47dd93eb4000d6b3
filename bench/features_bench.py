"""Benchmark the feature store on the real dataset's customers: materialization and online reads.

For each online store (SQLite, Redis) it times a full materialization of the exported marts into
an empty store, then ``OnlineFeatureReader.get_customer_features([one id])`` over many reads of
random known customers (p50, p99), as serving does on its hot path. It also times the export,
``apply`` and one point-in-time training set over every customer.

The marts come from the real UCI Online Retail file, built with the pipeline's own ingest and
dbt stages into a separate data folder (``<MERCATO_HOME>/bench/features``) the first time; later
runs reuse them. Redis: ``--redis-url`` to use a running server, otherwise a throwaway
``redis-server`` on a free 127.0.0.1 port is started and stopped (skipped if not installed).

    .venv/bin/python bench/features_bench.py [--reads 2000] [--stores sqlite,redis]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from mercato.settings import Settings, apply_runtime_env, get_settings, real_data_path


def timed(label: str, action: Callable[[], Any]) -> tuple[Any, float]:
    tick = time.perf_counter()
    value = action()
    seconds = time.perf_counter() - tick
    print(f"  {label:<44} {seconds:8.2f} s", flush=True)
    return value, seconds


def ensure_marts(settings: Settings, data: Path) -> None:
    """Build the marts from ``data`` with the pipeline's ingest and dbt stages, once."""
    import duckdb

    if settings.warehouse_path.is_file():
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            tables = {
                row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
            }
        if {"customer_features", "product_features"} <= tables:
            return
    if not data.is_file():
        sys.exit(f"real dataset not found at {data} (set MERCATO_REAL_DATA)")
    from pipeline import stages

    print(f"building marts from {data} into {settings.home} (once)")
    timed("ingest (raw gate + load)", lambda: stages.ingest(settings, data))
    timed("dbt build", lambda: stages.transform(settings))


@contextmanager
def redis_server(workdir: Path) -> Iterator[str | None]:
    """A throwaway redis-server on a free port, or None if the binary is missing."""
    if shutil.which("redis-server") is None:
        yield None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def empty_online_store(settings: Settings) -> None:
    if settings.online_store == "sqlite":
        settings.feast_online_path.unlink(missing_ok=True)
    else:
        import redis

        redis.Redis.from_url(settings.redis_url).flushdb()


def bench_store(settings: Settings, customers: list[str], reads: int, seed: int) -> dict[str, Any]:
    from features import store
    from features.online import OnlineFeatureReader

    print(f"[{settings.online_store}]")
    empty_online_store(settings)
    _, apply_s = timed("apply (registry + online tables)", lambda: store.apply(settings))
    record, materialize_s = timed(
        "materialize all data into an empty store", lambda: store.materialize(settings)
    )
    _, again_s = timed("materialize the same window again", lambda: store.materialize(settings))

    reader = OnlineFeatureReader(settings)
    reader.warm_up()
    rng = np.random.default_rng(seed)
    for customer in rng.choice(customers, size=200):  # connections, caches, code paths
        reader.get_customer_features([customer])
    picks = rng.choice(customers, size=reads)
    latencies = np.empty(reads)
    for i, customer in enumerate(picks):
        tick = time.perf_counter_ns()
        values = reader.get_customer_features([customer])
        latencies[i] = (time.perf_counter_ns() - tick) / 1e6
        if values[customer] is None:
            raise AssertionError(f"known customer {customer} missing from the online store")
    p50, p99 = np.percentile(latencies, [50, 99])
    print(f"  single-entity read over {reads} reads: p50 {p50:.3f} ms, p99 {p99:.3f} ms, "
          f"mean {latencies.mean():.3f} ms, max {latencies.max():.2f} ms")  # fmt: skip
    batch = list(rng.choice(customers, size=100, replace=False))
    tick = time.perf_counter()
    reader.get_customer_features(batch)
    batch_ms = (time.perf_counter() - tick) * 1000
    print(f"  one read of 100 customers: {batch_ms:.2f} ms")
    return {
        "apply_s": round(apply_s, 3),
        "materialize_s": round(materialize_s, 3),
        "rematerialize_s": round(again_s, 3),
        "window": [record["start"], record["end"]],
        "reads": reads,
        "read_p50_ms": round(float(p50), 4),
        "read_p99_ms": round(float(p99), 4),
        "read_mean_ms": round(float(latencies.mean()), 4),
        "read_100_ms": round(batch_ms, 3),
        "stale": reader.stale,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=real_data_path(), help="raw orders file")
    parser.add_argument("--home", type=Path, default=None, help="data folder for the bench")
    parser.add_argument("--reads", type=int, default=2000, help="single-entity reads per store")
    parser.add_argument("--stores", default="sqlite,redis", help="comma-separated online stores")
    parser.add_argument("--redis-url", default=None, help="use this Redis instead of starting one")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.reads < 1000:
        parser.error("--reads must be at least 1000 for a meaningful p99")

    base = get_settings()
    home = (args.home or base.home / "bench" / "features").expanduser().resolve()
    settings = dataclasses.replace(base, home=home, online_store="sqlite")
    apply_runtime_env(settings)
    settings.ensure_dirs()
    ensure_marts(settings, args.data)

    import duckdb

    # ibis (under Feast's DuckDB offline store) warns about a DuckDB rename on every query;
    # Feast installs its own warning filters when imported, so import it first.
    import feast.feature_store  # noqa: F401

    from features import store

    warnings.filterwarnings("ignore", message=".*fetch_arrow_table", category=DeprecationWarning)
    print(f"load average (1, 5, 15 min): {os.getloadavg()} on {os.cpu_count()} CPUs")
    print("[offline]")
    counts, export_s = timed("export marts to Parquet", lambda: store.export_sources(settings))
    print(f"  rows exported: {counts}")
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        last = con.execute("SELECT max(snapshot_at) FROM main.customer_features").fetchone()[0]
        customers = [
            row[0]
            for row in con.execute(
                "SELECT customer_id FROM main.customer_features WHERE snapshot_at = ? ORDER BY 1",
                [last],
            ).fetchall()
        ]
    print(f"  customers at the last snapshot ({last}): {len(customers)}")
    store.apply(settings)
    import pandas as pd

    entities = pd.DataFrame({"customer_id": customers, "event_timestamp": last})
    _, training_s = timed(
        f"training set, {len(customers)} customers (propensity_v1)",
        lambda: store.get_training_set(settings, entities, "propensity_v1"),
    )
    results: dict[str, Any] = {
        "load_average": os.getloadavg(),
        "customers": len(customers),
        "rows_exported": counts,
        "export_s": round(export_s, 3),
        "training_set_s": round(training_s, 3),
    }

    with tempfile.TemporaryDirectory() as redis_dir, redis_server(Path(redis_dir)) as started:
        for kind in [s.strip() for s in args.stores.split(",") if s.strip()]:
            if kind == "redis":
                url = args.redis_url or started
                if url is None:
                    print("[redis] skipped: redis-server not installed and no --redis-url")
                    continue
                current = dataclasses.replace(settings, online_store="redis", redis_url=url)
            else:
                current = dataclasses.replace(settings, online_store=kind)
            results[kind] = bench_store(current, customers, args.reads, base.seed)

    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
