"""Train one recommender on any interactions file and write every user's top-k unseen items.

The door for outside benchmarks: the input needs columns ``user_id, item_id`` and optionally
``rating`` and ``timestamp`` (datetime, ISO text or Unix seconds; used for the validation
split and the recency weighting of histories). A ``rating`` column on the ratings source's
scale (0.5 to 5 stars in half steps, as MovieLens ``ratings.csv``) is read as the pipeline reads
the ratings source (``--feedback auto``, the default; ``ratings`` forces it): the methods learn
from the items rated ``--min-rating`` (4) or better, ``userknn_pearson`` correlates
mean-centred ratings over co-rated items, validation counts only items rated that well, and no
rated item is recommended again. Otherwise (``--feedback implicit``, or a rating that is a
quantity, or none) every row is an interaction. Column names are read as the ratings source
reads them (``userId``, ``movieId``, ``customer_id``, ``StockCode``, ``stars``...). CSV or
Parquet, by suffix. ``--items FILE`` (``item_id,text``, optionally ``description`` and
``category``) gives the content and hybrid methods their item text. The output has ``user_id,
item_id, rank, score`` (rank 1 = best), items the user already has are never recommended, and
ids keep the input's integer type when they were integers.

The method is tuned as the pipeline tunes it: its grid is fitted on all but the last
``--validation-days`` of the file and scored on them, and the chosen values (printed) are
refitted on the whole file. ``--no-tune`` (or a file without timestamps) keeps the defaults.

    python bench/recsys_topk.py --train ratings.csv --k 10 --model ease --out top10.csv
    python bench/recsys_topk.py --train ratings.csv --items movies.csv --model hybrid --out t.csv
    python bench/recsys_topk.py --train orders.csv --feedback implicit --model ease --out t.csv
    python bench/recsys_topk.py --list-models

``implicit_als`` (the ``implicit`` library's ALS, for side-by-side runs) is listed only when
that package is installed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
from implicit_als import fit_als

from mercato.settings import apply_runtime_env
from models.recommendation import (
    METHODS,
    TEXT_CANDIDATES,
    fit_candidate,
    normalize_interactions,
    normalize_items,
    rating_mode,
    tune_candidate,
)
from warehouse.sources.ratings import SOURCE as RATINGS


def model_names() -> list[str]:
    names = list(METHODS)
    try:
        import implicit  # noqa: F401
    except ImportError:
        pass
    else:
        names.append("implicit_als")
    return names


def read_interactions(path: Path) -> pd.DataFrame:
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    return (
        pd.read_csv(path, sep=None, engine="python")
        if path.suffix.lower() == ".tsv"
        else pd.read_csv(path)
    )


def implicit_als_topk(
    interactions: pd.DataFrame, k: int, seed: int = 42, factors: int = 100
) -> list[tuple[str, str, int, float]]:
    """Top-k unseen items per user with ``implicit``'s ALS on the binary matrix."""
    als = fit_als(interactions, seed, factors=factors)
    lists = als.recommend(None, k, exclude_bought=True)
    return [
        (user, item, rank, score)
        for user, recs in zip(als.users, lists, strict=True)
        for rank, (item, score) in enumerate(recs, start=1)
    ]


def topk(
    interactions: pd.DataFrame,
    model: str,
    k: int,
    items: pd.DataFrame | None = None,
    validation_days: int | None = 30,
    min_rating: float | None = None,
) -> pd.DataFrame:
    """The output frame for ``model`` tuned on a validation split and trained on all of
    ``interactions`` (``validation_days=None``: the defaults); ``min_rating``: explicit
    ratings, as the ratings source is trained (``fit_candidate(min_rating=...)``)."""
    if model == "implicit_als":
        rows = implicit_als_topk(interactions, k)
    else:
        params = None
        if validation_days:
            params, score, trials = tune_candidate(
                model, interactions, validation_days, items, k, min_rating=min_rating
            )
            if score is None:
                print("no timestamps or validation users: default parameters", file=sys.stderr)
            else:
                print(
                    f"tuned on the last {validation_days} days ({len(trials)} trials): "
                    f"{params}, validation NDCG@{k} {score:.4f}",
                    file=sys.stderr,
                )
        fitted = fit_candidate(model, interactions, params, items, min_rating=min_rating)
        lists = fitted.recommend_batch(
            list(fitted.user_ids), k, exclude_bought=True, with_scores=True
        )
        rows = [
            (user, item, rank, score)
            for user, recs in zip(fitted.user_ids, lists, strict=True)
            for rank, (item, score) in enumerate(recs, start=1)
        ]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rank", "score"])


def _restore_id_types(out: pd.DataFrame, raw: pd.DataFrame) -> pd.DataFrame:
    for col in ("user_id", "item_id"):
        values = raw[col].dropna()
        if pd.api.types.is_integer_dtype(values) or (
            pd.api.types.is_float_dtype(values) and (values % 1 == 0).all()
        ):
            out[col] = out[col].astype("int64")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=Path, help="interactions file (CSV or Parquet)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--model", default="ease")
    parser.add_argument("--out", type=Path, help="output file (CSV or Parquet, by suffix)")
    parser.add_argument("--list-models", action="store_true", help="print accepted model names")
    parser.add_argument(
        "--items", type=Path, help="item text, CSV item_id,text (content and hybrid methods)"
    )
    parser.add_argument("--validation-days", type=int, default=30)
    parser.add_argument("--no-tune", action="store_true", help="keep the default parameters")
    parser.add_argument(
        "--feedback",
        choices=("auto", "ratings", "implicit"),
        default="auto",
        help="ratings: explicit stars; implicit: every row an interaction; auto: ratings when "
        "the rating column is on the 0.5-5 star scale",
    )
    parser.add_argument(
        "--min-rating", type=float, default=4.0, help="stars from which a rating is a like"
    )
    args = parser.parse_args(argv)
    apply_runtime_env()
    if args.list_models:
        print("\n".join(model_names()))
        return 0
    if args.train is None or args.out is None:
        parser.error("--train and --out are required (or use --list-models)")
    if args.model not in model_names():
        parser.error(f"unknown model {args.model!r}; --list-models shows the accepted names")
    if args.model in TEXT_CANDIDATES and args.items is None:
        parser.error(f"{args.model} needs item text: give --items FILE (item_id,text)")
    raw = RATINGS.map_columns(read_interactions(args.train))  # userId, movieId... as ingest does
    interactions = normalize_interactions(raw)
    items = None if args.items is None else normalize_items(read_interactions(args.items))
    explicit = args.feedback == "ratings" or (
        args.feedback == "auto" and "rating" in raw.columns and rating_mode(interactions)
    )
    if explicit and args.model == "implicit_als":
        parser.error("implicit_als learns from binary interactions: add --feedback implicit")
    min_rating = args.min_rating if explicit else None
    mode = (
        f"explicit ratings, a like is >= {args.min_rating:g} stars"
        if explicit
        else "implicit (every row an interaction)"
    )
    print(f"feedback: {mode}", file=sys.stderr)
    start = time.perf_counter()
    days = None if args.no_tune else args.validation_days
    out = _restore_id_types(topk(interactions, args.model, args.k, items, days, min_rating), raw)
    seconds = time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out.suffix.lower() in (".parquet", ".pq"):
        out.to_parquet(args.out, index=False)
    else:
        out.to_csv(args.out, index=False)
    print(
        f"{args.model}: {interactions['user_id'].nunique()} users, "
        f"{interactions['item_id'].nunique()} items, {len(out)} rows in {seconds:.1f} s "
        f"-> {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
