"""The whole pipeline on the real clothing reviews, timed, and what the champion says about the
five most-reviewed products.

A fresh data folder (temporary, or ``--home``) gets the Women's E-Commerce Clothing Reviews CSV
in its landing folder, under its own column names, beside a batch of order lines (``--orders``
FILE, default a small synthetic batch: the mart gate rightly refuses a shop without orders);
``pipeline.stages.run_all`` then does what ``mercato run`` does: landing recognises each file's
source by its columns and gates the batch, dbt builds every layer, the mart gate validates,
Feast materialises, every family trains, and the registry names the champions. The
script prints each stage's time, the sentiment gate's decision, and the praise and complaint
terms of the five products with the most reviews as the registered champion serves them
(``/product_reviews``).

    python bench/reviews_pipeline.py
    python bench/reviews_pipeline.py --home /tmp/reviews-home --k 8
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import tempfile
import time
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

from mercato.settings import REPO_ROOT, Settings, apply_runtime_env, get_settings

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "reviews"
DEFAULT_DATA = DEFAULT_DATA / "womens_clothing_ecommerce_reviews.csv.zip"
#: The synthetic orders' end (as the tests': tests/fixed_dates.py), so runs compare.
END_DATE = date(2026, 11, 28)


def top_products_terms(settings: Settings, k: int = 10, n: int = 5) -> list[dict[str, Any]]:
    """The ``n`` most-reviewed products of the sentiment champion with ``k`` terms a side."""
    from models import registry
    from models.sentiment import MODEL_NAME

    model, version = registry.load_champion(settings, MODEL_NAME)
    ranked = sorted(model.insights, key=lambda p: (-(model.insights[p]["n_reviews"] or 0), p))
    out = []
    for product in ranked[:n]:
        insight = model.product_insight(product)
        out.append(
            {
                "product_id": product,
                "category": insight.get("category"),
                "n_reviews": insight.get("n_reviews"),
                "mean_rating": insight.get("mean_rating"),
                "praise": [t["term"] for t in insight["praise"][:k]],
                "complaints": [t["term"] for t in insight["complaints"][:k]],
                "model_version": version,
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--home", type=Path, help="data folder to create (default: temporary)")
    parser.add_argument("--orders", type=Path, help="order lines file (default: synthetic)")
    parser.add_argument("--k", type=int, default=10, help="terms of each side per product")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"real reviews not found at {args.data}")
        return 2
    from pipeline.stages import run_all

    home = args.home or Path(tempfile.mkdtemp(prefix="mercato-reviews-")) / "home"
    settings = dataclasses.replace(get_settings(), home=home.resolve(), mlflow_tracking_uri="")
    apply_runtime_env(settings)
    settings.ensure_dirs()
    csv = settings.landing_dir / "womens_clothing_reviews.csv"
    with zipfile.ZipFile(args.data) as archive:
        csv.write_bytes(archive.read(archive.namelist()[0]))
    if args.orders is not None:
        shutil.copy(args.orders, settings.landing_dir / args.orders.name)
    else:
        from warehouse.synthetic import write_orders

        shape = {"n_customers": 300, "n_products": 120, "days": 180, "seed": settings.seed}
        write_orders(settings.landing_dir / "orders.parquet", end_date=END_DATE, **shape)

    started = time.perf_counter()
    summary = run_all(settings, None, progress=lambda line: print(line, flush=True))
    total = time.perf_counter() - started
    batches = summary["ingest"]["batches"]
    sentiment = summary["train_sentiment"]
    stages = {k: v["seconds"] for k, v in summary.items() if isinstance(v, dict) and "seconds" in v}
    report = {
        "home": str(home),
        "seconds_total": round(total, 1),
        "seconds_by_stage": stages,
        "batches": [
            {k: b.get(k) for k in ("source", "status", "rows", "warnings")} for b in batches
        ],
        "sentiment": {k: sentiment.get(k) for k in ("version", "promoted", "decision", "metrics")},
        "champions": summary["champions"]["champions"],
    }
    print(json.dumps(report, indent=2, default=str))
    print("\n| product | category | reviews | mean rating | praise | complaints |")
    print("|---|---|---:|---:|---|---|")
    for p in top_products_terms(settings, k=args.k):
        print(
            f"| {p['product_id']} | {p['category']} | {p['n_reviews']} | {p['mean_rating']:.2f} "
            f"| {', '.join(p['praise']) or '(none significant)'} | {', '.join(p['complaints'])} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
