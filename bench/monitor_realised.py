"""Realised performance of the propensity and recommendation champions on the real UCI Online
Retail file, from their own earlier predictions, and how far the inputs drift month by month.

The file is delivered in monthly batches to a fresh data folder. After the first batch (orders
before ``--start``) the pipeline trains propensity and the recommender once (v1, the
champions) and the monitor runs: it logs the propensity champion's predictions for the newest
snapshot and the recommender's top-k lists for its known customers as of the newest order.
Each later batch is ingested and transformed, and the monitor runs again: it logs the same
champions' predictions once more and scores every earlier one whose window (30 days) the data
now covers. Beside the propensity champion, the recency heuristic (score = -recency at the same
snapshot) is scored on the same customers and labels; beside the recommender's lists, the
popularity method refitted on the orders up to the same moment, for the same customers.

    MERCATO_REAL_DATA=/path/online_retail.parquet python bench/monitor_realised.py
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import pandas as pd

from mercato.settings import get_settings, real_data_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="the UCI file (Parquet)")
    parser.add_argument("--start", default="2011-08-01", help="first batch: orders before this")
    parser.add_argument(
        "--cuts", default="2011-09-01,2011-10-01,2011-11-01", help="later batch boundaries"
    )
    args = parser.parse_args()
    from sklearn.metrics import roc_auc_score

    from monitoring.realised import labels_at
    from pipeline import stages
    from warehouse import reader

    path = args.data or real_data_path()
    if not path.is_file():
        raise SystemExit(f"real dataset not found at {path} (set MERCATO_REAL_DATA)")
    raw = pd.read_parquet(path)
    when = pd.to_datetime(raw["InvoiceDate"])
    bounds = [pd.Timestamp(args.start), *map(pd.Timestamp, args.cuts.split(",")), None]
    with tempfile.TemporaryDirectory(prefix="mercato-monitor-bench-") as tmp:
        home = Path(tmp) / "home"
        settings = dataclasses.replace(get_settings(), home=home, mlflow_tracking_uri="")
        settings.ensure_dirs()
        recency: dict[pd.Timestamp, pd.DataFrame] = {}
        drift_rows = []
        lo = None
        for step, hi in enumerate(bounds):
            part = raw[((when >= lo) if lo is not None else True) & ((when < hi) if hi else True)]
            batch = Path(tmp) / f"batch-{step}.parquet"
            part.to_parquet(batch, index=False)
            tick = time.perf_counter()
            stages.ingest(settings, batch)
            stages.transform(settings)
            if step == 0:
                stages.features(settings)
                trained = stages.train(settings, "propensity")
                print(
                    f"trained propensity v{trained['version']} on orders before {args.start}: "
                    f"hold-out roc_auc {trained['metrics']['roc_auc']:.4f} "
                    f"(recency heuristic "
                    f"{trained['details']['comparison']['recency_heuristic']['roc_auc']:.4f})"
                )
                rec = stages.train(settings, "recommendation")
                print(
                    f"trained recommendation v{rec['version']} "
                    f"({rec['details'].get('algorithm')}): "
                    f"hold-out ndcg_at_10 {rec['metrics']['ndcg_at_10']:.4f}"
                )
            result = stages.monitor(settings, fail=False)
            snap = reader.query(
                settings,
                "select customer_id, snapshot_at, recency_days from main.customer_features "
                "where snapshot_at = (select max(snapshot_at) from main.customer_features)",
            )
            as_of = pd.Timestamp(snap["snapshot_at"].iloc[0])
            recency[as_of] = snap
            fam = result["families"]["propensity"]
            worst = max(fam["features"], key=lambda d: d["psi"])
            drift_rows.append(
                (
                    str(as_of.date()),
                    len(snap),
                    worst["feature"],
                    worst["psi"],
                    fam["prediction"]["psi"],
                    len(fam["drifted"]),
                    len(result["alerts"]),
                )
            )
            print(
                f"batch {step} (to {hi.date() if hi else 'end'}): "
                f"{time.perf_counter() - tick:.0f} s, snapshot {as_of.date()}"
            )
            lo = hi
        orders = reader.query(
            settings,
            "select distinct customer_id, ordered_at from main.fct_order_lines "
            "where not is_cancellation",
        )
    print("\nDrift of the newest snapshot against the champion's reference (v1, first batch)")
    print("| snapshot | customers | largest feature PSI | prediction PSI | drifted features |")
    print("|---|---:|---|---:|---:|")
    for snap_day, n, feature, psi, ppsi, drifted, _alerts in drift_rows:
        print(f"| {snap_day} | {n:,} | {feature} {psi:.3f} | {ppsi:.3f} | {drifted} |")
    print("\nRealised performance of the champion's own earlier predictions (30-day horizon)")
    print(
        "| predicted at | version | customers | base rate | mean score | champion ROC-AUC "
        "| recency heuristic ROC-AUC |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in result["realised"]:
        if r["family"] != "propensity":
            continue
        as_of = pd.Timestamp(r["as_of"])
        snap = recency[as_of]
        y = labels_at(orders, snap["customer_id"], as_of, settings.propensity_horizon_days, True)
        base = roc_auc_score(y, -snap["recency_days"].astype(float).to_numpy())
        print(
            f"| {as_of.date()} | v{r['model_version']} | {r['n']:,} | {r['base_rate']:.3f} | "
            f"{r['mean_score']:.3f} | {r['roc_auc']:.4f} | {base:.4f} |"
        )
    if not any(r["family"] == "propensity" for r in result["realised"]):
        print("(no prediction matured)")
    print(
        "\nRealised performance of the recommender's own earlier top-10 lists "
        f"({settings.holdout_days} days of purchases that followed, products new to the customer)"
    )
    print(
        "| lists as of | version | lists | customers who bought | champion NDCG@10 "
        "| champion precision@10 | popularity NDCG@10 | lift |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in result["realised_topk"]:
        k = r["k"]
        ours, base = r["metrics"], r["popularity"]
        print(
            f"| {pd.Timestamp(r['as_of']).date()} | v{r['model_version']} | {r['customers']:,} | "
            f"{r['n']:,} | {ours[f'ndcg_at_{k}']:.4f} | {ours[f'precision_at_{k}']:.4f} | "
            f"{base[f'ndcg_at_{k}']:.4f} | {r['lift']:.2f} |"
        )
    if not result["realised_topk"]:
        print("(no list matured)")


if __name__ == "__main__":
    main()
