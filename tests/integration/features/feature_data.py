"""Test data for the feature-store tests: small marts with known history, and a real Redis.

The marts are built here from a synthetic order history by the contract of
``docs/architecture.md`` section 2 (features at ``snapshot_at`` use only orders strictly before
it), so the tests know which orders every feature value may reflect. They stand in for the dbt
marts and are written to a DuckDB file exactly where the pipeline would find them.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from serving.processes import free_port

#: First day of the synthetic history and the spacing of the weekly snapshots.
ORIGIN = datetime(2023, 1, 2)
SNAPSHOT_EVERY = timedelta(days=7)


@dataclass(frozen=True)
class Marts:
    """A synthetic order history and the feature marts computed from it."""

    orders: pd.DataFrame  # customer_id, ordered_at, amount, n_lines, n_cancelled, products
    customer_features: pd.DataFrame
    product_features: pd.DataFrame
    snapshots: list[datetime]
    product_review_stats: pd.DataFrame


def make_marts(n_customers: int = 40, n_weeks: int = 20, seed: int = 7) -> Marts:
    """Orders of ``n_customers`` over ``n_weeks`` and weekly customer snapshots of them.

    Some orders fall exactly on a snapshot instant, which the strict ``ordered_at <
    snapshot_at`` rule must leave out of that snapshot.
    """
    rng = np.random.default_rng(seed)
    horizon_days = 7 * n_weeks
    snapshots = [ORIGIN + SNAPSHOT_EVERY * k for k in range(1, n_weeks + 1)]
    orders = []
    for number in range(n_customers):
        customer_id = str(12000 + number)
        first_day = int(rng.integers(0, horizon_days - 14))
        days = np.sort(
            rng.choice(
                np.arange(first_day, horizon_days), size=int(rng.integers(2, 9)), replace=False
            )
        )
        days[0] = first_day
        for day in days:
            on_snapshot = rng.random() < 0.25
            hours = 0.0 if on_snapshot else float(rng.integers(1, 23))
            n_lines = int(rng.integers(1, 6))
            orders.append(
                {
                    "customer_id": customer_id,
                    "ordered_at": ORIGIN + timedelta(days=int(day), hours=hours),
                    "amount": round(float(rng.uniform(5, 300)), 2),
                    "n_lines": n_lines,
                    "n_cancelled": int(rng.integers(0, n_lines)) if rng.random() < 0.2 else 0,
                    "products": frozenset(int(p) for p in rng.integers(0, 30, size=n_lines)),
                    "is_uk": number % 3 != 0,
                }
            )
    orders_df = pd.DataFrame(orders)
    rows = []
    for snapshot_at in snapshots:
        before = orders_df[orders_df["ordered_at"] < snapshot_at]
        for customer_id, group in before.groupby("customer_id"):
            frequency = len(group)
            monetary = float(group["amount"].sum())
            rows.append(
                {
                    "customer_id": customer_id,
                    "snapshot_at": snapshot_at,
                    "recency_days": (snapshot_at - group["ordered_at"].max()).total_seconds()
                    / 86400,
                    "frequency": frequency,
                    "monetary": monetary,
                    "tenure_days": (snapshot_at - group["ordered_at"].min()).total_seconds()
                    / 86400,
                    "avg_basket_value": monetary / frequency,
                    "return_rate": float(group["n_cancelled"].sum() / group["n_lines"].sum()),
                    "n_distinct_products": len(frozenset().union(*group["products"])),
                    "is_uk": int(group["is_uk"].iloc[0]),
                }
            )
    customer_features = pd.DataFrame(rows)
    product_features = pd.DataFrame(
        {
            "stock_code": [f"P{n:03d}" for n in range(30)],
            "snapshot_at": snapshots[-1],
            "n_buyers": rng.integers(1, 40, size=30),
            "n_orders": rng.integers(1, 80, size=30),
            "total_quantity": rng.integers(1, 500, size=30),
            "avg_unit_price": rng.uniform(0.5, 20, size=30).round(2),
        }
    )
    n_reviews = rng.integers(1, 60, size=20)
    negative = rng.integers(0, 1 + n_reviews // 2)
    product_review_stats = pd.DataFrame(
        {
            "product_id": [f"P{n:03d}" for n in range(20)],
            "n_reviews": n_reviews,
            "mean_rating": rng.uniform(1, 5, size=20).round(3),
            "positive_share": (n_reviews - negative) / n_reviews,
            "negative_share": negative / n_reviews,
            "rating_trend_per_30d": np.where(
                np.arange(20) % 4 == 0, np.nan, rng.normal(0, 0.1, 20)
            ),
            "stats_as_of": snapshots[-1],
        }
    )
    return Marts(orders_df, customer_features, product_features, snapshots, product_review_stats)


def write_warehouse(
    path: Path,
    customer_features: pd.DataFrame,
    product_features: pd.DataFrame,
    product_review_stats: pd.DataFrame | None = None,
) -> None:
    """Write the marts as ``main.customer_features``, ``main.product_features`` and (given)
    ``main.product_review_stats``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    marts = [("customer_features", customer_features), ("product_features", product_features)]
    if product_review_stats is not None:
        marts.append(("product_review_stats", product_review_stats))
    with duckdb.connect(str(path)) as con:
        for name, frame in marts:
            con.register("frame", frame)
            con.execute(f"CREATE OR REPLACE TABLE main.{name} AS SELECT * FROM frame")
            con.unregister("frame")


# -- Redis ----------------------------------------------------------------------------------


class RedisServer:
    """A throwaway ``redis-server`` on 127.0.0.1 that a test can stop and start again."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within 10 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def flush(self) -> None:
        import redis

        redis.Redis.from_url(self.url).flushall()
