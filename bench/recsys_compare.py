"""Every recommender candidate side by side on the real data's temporal hold-out.

Takes the interactions the pipeline trains on: mart ``fct_order_lines`` of a warehouse, read by
``models.recommendation.build_recommendation_data`` (the cleaning lives in ``dbt_project/``
only). ``--home DIR`` reads a data folder where ingest and transform have run; without it the
bench ingests and transforms ``--data`` (default: env ``MERCATO_REAL_DATA`` or the shared copy
of the UCI Online Retail file) into a temporary data folder first (~35 s). Holds out the last
``--holdout-days`` days and reports NDCG, precision, recall, MAP and coverage@k for every
candidate and for the ``implicit`` library's ALS, with bought items excluded and included, plus
training time. Writes a Markdown table and JSON to ``--out``.

    python bench/recsys_compare.py --out .mercato/bench/recsys_compare
    python bench/recsys_compare.py --home .mercato --no-als
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path

import pandas as pd
from implicit_als import fit_als

from mercato.settings import apply_runtime_env, get_settings, real_data_path
from models.metrics import evaluate_topk
from models.recommendation import (
    build_recommendation_data,
    candidates_table,
    compare_candidates,
    holdout_cutoff,
    holdout_truth,
    table_row,
)

#: ALS settings measured: implicit's defaults, and the best of a small grid on this hold-out.
ALS_SETTINGS = {
    "implicit_als (defaults: 100 factors)": {"factors": 100, "regularization": 0.01},
    "implicit_als (64 factors, best of grid)": {"factors": 64, "regularization": 0.01},
}


def warehouse_interactions(home: Path | None, data: Path) -> pd.DataFrame:
    """Interactions from mart ``fct_order_lines`` of ``home``, or of a temporary data folder
    where ``data`` is ingested and transformed first (when ``home`` is None)."""
    from pipeline import stages

    if home is not None:
        settings = dataclasses.replace(get_settings(), home=home.expanduser().resolve())
        if not settings.warehouse_path.is_file():
            raise SystemExit(f"no warehouse at {settings.warehouse_path}: run the pipeline first")
        return build_recommendation_data(settings)
    with tempfile.TemporaryDirectory(prefix="mercato-bench-") as tmp:
        settings = dataclasses.replace(get_settings(), home=Path(tmp), mlflow_tracking_uri="")
        settings.ensure_dirs()
        print(f"ingesting and transforming {data} in a temporary data folder ...", flush=True)
        stages.ingest(settings, data)
        stages.transform(settings)
        return build_recommendation_data(settings)


def implicit_als_rows(
    train: pd.DataFrame, test: pd.DataFrame, k: int, seed: int, **params: float
) -> list[dict]:
    """Fit ``implicit``'s ALS on the binary train matrix and score it like our candidates."""
    als = fit_als(train, seed, **params)
    out = {}
    for mode, exclude in (("excluded", True), ("included", False)):
        truth = holdout_truth(train, test, exclude)
        who = sorted(truth)
        lists = als.recommend(who, k, exclude_bought=exclude)
        recs = {w: [item for item, _ in recs] for w, recs in zip(who, lists, strict=True)}
        out[mode] = evaluate_topk(recs, truth, k, len(als.items))
    return [table_row(m, k, mode, als.seconds) for mode, m in out.items()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help="a MERCATO_HOME where the pipeline has run (default: build one from --data)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=real_data_path(),
        help="orders file to ingest and transform when no --home is given",
    )
    parser.add_argument("--holdout-days", type=int, default=30)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for table.md and results.json"
    )
    parser.add_argument("--no-als", action="store_true", help="skip implicit's ALS")
    args = parser.parse_args(argv)
    apply_runtime_env()

    interactions = warehouse_interactions(args.home, args.data)
    results, _, train, test = compare_candidates(interactions, args.holdout_days, k=args.k)
    table = candidates_table(results, args.k)
    if not args.no_als:
        for label, params in ALS_SETTINGS.items():
            rows = implicit_als_rows(train, test, args.k, args.seed, **params)
            table = pd.concat([table, pd.DataFrame([{"model": label, **r} for r in rows])])
    ndcg = f"ndcg@{args.k}"
    table = table.sort_values(["bought", ndcg], ascending=[False, False])
    pop_by_mode = table[table["model"] == "popularity"].set_index("bought")[ndcg]
    pop_ndcg = float(pop_by_mode["excluded"])
    table["x_popularity"] = table[ndcg] / table["bought"].map(pop_by_mode)
    cutoff = holdout_cutoff(interactions, args.holdout_days)
    header = (
        f"Mart fct_order_lines: {len(interactions):,} purchase lines, "
        f"{interactions['user_id'].nunique():,} customers, "
        f"{interactions['item_id'].nunique():,} products; hold-out from "
        f"{cutoff:%Y-%m-%d} ({args.holdout_days} days); "
        f"popularity NDCG@{args.k} (bought excluded) {pop_ndcg:.4f}"
    )
    markdown = header + "\n\n" + table.to_markdown(index=False, floatfmt=".4f")
    print(markdown)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "table.md").write_text(markdown + "\n")
        (args.out / "results.json").write_text(json.dumps(table.to_dict("records"), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
