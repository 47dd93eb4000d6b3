"""Every recommender candidate side by side on the real data's temporal hold-out.

Takes the interactions the pipeline trains on: mart ``fct_order_lines`` of a warehouse, read by
``models.recommendation.build_recommendation_data`` (the cleaning lives in ``dbt_project/``
only). ``--home DIR`` reads a data folder where ingest and transform have run; without it the
bench ingests and transforms ``--data`` (default: env ``MERCATO_REAL_DATA`` or the shared copy
of the UCI Online Retail file) into a temporary data folder first (~35 s). Holds out the last
``--holdout-days`` days and reports NDCG, precision, recall, MAP and coverage@k for every
method (item text from mart ``dim_products``) and for the ``implicit`` library's ALS, with
bought items excluded and included, on cold items (first sold in the hold-out) and on light
customers (one or two orders), plus training time. Every method, ALS included, is tuned on a
validation split carved from the end of the training part (``--no-tune``: the defaults).
Writes a Markdown table and JSON to ``--out``.

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
    METHODS,
    build_item_text,
    build_recommendation_data,
    candidates_table,
    compare_candidates,
    holdout_cutoff,
    holdout_truth,
    segment_truths,
    table_row,
    temporal_split,
)

#: implicit's defaults, and the grid its tuned ALS is chosen from on the validation split.
ALS_DEFAULTS = {"factors": 100, "regularization": 0.01}
ALS_GRID = [
    {"factors": f, "regularization": r, "alpha": a}
    for f in (64, 128)
    for r in (0.01, 0.1)
    for a in (1.0, 10.0)
]


def warehouse_interactions(home: Path | None, data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(interactions, item text) from the marts of ``home``, or of a temporary data folder
    where ``data`` is ingested and transformed first (when ``home`` is None)."""
    from pipeline import stages

    if home is not None:
        settings = dataclasses.replace(get_settings(), home=home.expanduser().resolve())
        if not settings.warehouse_path.is_file():
            raise SystemExit(f"no warehouse at {settings.warehouse_path}: run the pipeline first")
        return build_recommendation_data(settings), build_item_text(settings)
    with tempfile.TemporaryDirectory(prefix="mercato-bench-") as tmp:
        settings = dataclasses.replace(get_settings(), home=Path(tmp), mlflow_tracking_uri="")
        settings.ensure_dirs()
        print(f"ingesting and transforming {data} in a temporary data folder ...", flush=True)
        stages.ingest(settings, data)
        stages.transform(settings)
        return build_recommendation_data(settings), build_item_text(settings)


def tune_als(train: pd.DataFrame, days: int, k: int, seed: int) -> tuple[dict, float]:
    """ALS's grid point with the best NDCG@k on the last ``days`` of ``train`` (bought out)."""
    fit_part, valid, _ = temporal_split(train, days)
    truth = holdout_truth(fit_part, valid, True)
    who = sorted(truth)
    best: tuple[float, dict] = (-1.0, ALS_DEFAULTS)
    for params in ALS_GRID:
        als = fit_als(fit_part, seed, **params)
        lists = als.recommend(who, k, exclude_bought=True)
        recs = {w: [i for i, _ in r] for w, r in zip(who, lists, strict=True)}
        score = evaluate_topk(recs, truth, k, len(als.items))[f"ndcg_at_{k}"]
        if score > best[0]:
            best = (score, params)
    return best[1], best[0]


def implicit_als_rows(
    train: pd.DataFrame, test: pd.DataFrame, k: int, seed: int, **params: float
) -> list[dict]:
    """Fit ``implicit``'s ALS on the binary train matrix and score it like our candidates."""
    als = fit_als(train, seed, **params)
    rows = []
    for mode, exclude in (("excluded", True), ("included", False)):
        truth = holdout_truth(train, test, exclude)
        who = sorted(truth)
        lists = als.recommend(who, k, exclude_bought=exclude)
        recs = {w: [item for item, _ in recs] for w, recs in zip(who, lists, strict=True)}
        rows.append(
            {
                "users_of": "all",
                **table_row(evaluate_topk(recs, truth, k, len(als.items)), k, mode, als.seconds),
            }
        )
        if exclude:
            for users_of, sub in segment_truths(train, truth).items():
                if sub:
                    metrics = evaluate_topk(recs, sub, k, len(als.items))
                    rows.append(
                        {
                            "users_of": users_of.replace("_", " "),
                            **table_row(metrics, k, mode, als.seconds),
                        }
                    )
    return rows


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
    parser.add_argument("--no-tune", action="store_true", help="every method with its defaults")
    parser.add_argument(
        "--methods", default=",".join(METHODS), help="comma-separated methods to compare"
    )
    args = parser.parse_args(argv)
    apply_runtime_env()

    interactions, items = warehouse_interactions(args.home, args.data)
    tune_days = None if args.no_tune else args.holdout_days
    results, _, train, test = compare_candidates(
        interactions,
        args.holdout_days,
        args.methods.split(","),
        k=args.k,
        items=items,
        tune_days=tune_days,
    )
    table = candidates_table(results, args.k)
    chosen = "\n".join(
        f"- {r.name}: {r.params}"
        + ("" if r.validation_ndcg is None else f" (validation NDCG {r.validation_ndcg:.4f})")
        for r in results
    )
    if not args.no_als:
        als_settings = {"implicit_als (defaults)": ALS_DEFAULTS}
        if tune_days:
            params, score = tune_als(train, tune_days, args.k, args.seed)
            als_settings["implicit_als (tuned)"] = params
            chosen += f"\n- implicit_als: {params} (validation NDCG {score:.4f})"
        for label, params in als_settings.items():
            rows = implicit_als_rows(train, test, args.k, args.seed, **params)
            table = pd.concat([table, pd.DataFrame([{"model": label, **r} for r in rows])])
    ndcg = f"ndcg@{args.k}"
    group = table["users_of"] + " / " + table["bought"]
    table = table.assign(_group=group).sort_values(["_group", ndcg], ascending=[True, False])
    pop_by_group = table[table["model"] == "popularity"].set_index("_group")[ndcg]
    pop_ndcg = float(pop_by_group["all / excluded"])
    table["x_popularity"] = table[ndcg] / table["_group"].map(pop_by_group)
    table = table.drop(columns="_group")
    cutoff = holdout_cutoff(interactions, args.holdout_days)
    header = (
        f"Mart fct_order_lines: {len(interactions):,} purchase lines, "
        f"{interactions['user_id'].nunique():,} customers, "
        f"{interactions['item_id'].nunique():,} products; hold-out from "
        f"{cutoff:%Y-%m-%d} ({args.holdout_days} days); "
        f"popularity NDCG@{args.k} (bought excluded) {pop_ndcg:.4f}"
    )
    markdown = (
        header
        + "\n\n"
        + table.to_markdown(index=False, floatfmt=".4f")
        + "\n\nChosen on the validation split:\n"
        + chosen
    )
    print(markdown)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "table.md").write_text(markdown + "\n")
        (args.out / "results.json").write_text(json.dumps(table.to_dict("records"), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
