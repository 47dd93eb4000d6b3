"""Does demoting products with mostly negative reviews help the recommender on its hold-out?

A re-ranking on top of the recommender's own output, measured on the family's temporal
hold-out (the last ``holdout_days``; bought items excluded, NDCG@10 as the gate judges): each
customer's top ``--candidates`` list from the champion's configuration is re-ordered, then cut
to 10. The review statistics a product gets are those of its reviews written *before* the
cut-off only (the same counts as mart ``product_review_stats``, restricted in time), so the
penalty knows nothing the recommender could not have known. Products are matched by id: on the
synthetic data the reviews are of the shop's own stock codes.

Policies, each against the plain list on the same customers (paired bootstrap of the per-user
NDCG@10 difference, 95% interval):

- ``demote``: products whose smoothed negative share ``(n_negative + 1) / (n_reviews + 2)`` is
  above 0.5 with at least ``--min-reviews`` reviews go to the end of the list;
- ``soft λ``: the score is multiplied by ``1 - λ * smoothed negative share`` (λ = 0.5, 1).

Data: ``--home`` (a data folder where ``mercato run`` ran with orders and reviews), or a fresh
temporary one where the synthetic orders and reviews are generated (``--end-date``, default
2026-11-28 as the tests), ingested and built by dbt.

    python bench/review_penalty.py
    python bench/review_penalty.py --home .mercato --algorithm ease
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mercato.settings import Settings, apply_runtime_env, get_settings

K = 10


def prepared_home(home: Path | None, end_date: date) -> Settings:
    """``home``'s settings, or a temporary data folder with synthetic orders and reviews."""
    if home is not None:
        return dataclasses.replace(get_settings(), home=home.expanduser().resolve())
    from pipeline import stages
    from warehouse.synthetic_landing import write_landing

    root = Path(tempfile.mkdtemp(prefix="mercato-penalty-"))
    settings = dataclasses.replace(get_settings(), home=root / "home", mlflow_tracking_uri="")
    apply_runtime_env(settings)
    settings.ensure_dirs()
    write_landing(settings.landing_dir, end_date=end_date, seed=settings.seed)
    print(f"generating, ingesting and building the marts in {settings.home} ...", flush=True)
    stages.ingest(settings)
    stages.transform(settings)
    return settings


def review_stats_before(settings: Settings, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Per product: reviews and negative (1-2 star) reviews written before ``cutoff``."""
    from warehouse import reader

    return reader.query(
        settings,
        """
        select
            product_id,
            count(*) as n_reviews,
            count(*) filter (where sentiment_label = 'negative') as n_negative
        from main.review_facts
        where created_at < ?
        group by product_id
        """,
        [cutoff.to_pydatetime()],
    ).set_index("product_id")


def rerank(
    lists: list[list[tuple[str, float]]], policy: str, negative: dict[str, float], flagged: set
) -> list[list[str]]:
    """Each candidate list re-ordered by ``policy`` and cut to ``K``."""
    out = []
    for candidates in lists:
        if policy == "none":
            ranked = [item for item, _ in candidates]
        elif policy == "demote":
            ranked = [i for i, _ in candidates if i not in flagged]
            ranked += [i for i, _ in candidates if i in flagged]
        else:
            strength = float(policy.split()[1])
            rescored = [(i, s * (1 - strength * negative.get(i, 0.0))) for i, s in candidates]
            ranked = [i for i, _ in sorted(rescored, key=lambda pair: -pair[1])]
        out.append(ranked[:K])
    return out


def paired_interval(diff: np.ndarray, seed: int, n: int = 2000) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(n)]
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def main(argv: list[str] | None = None) -> int:
    from models.metrics import topk_per_user
    from models.recommendation import (
        build_recommendation_data,
        fit_candidate,
        holdout_truth,
        temporal_split,
    )

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, help="a data folder with order and review marts")
    parser.add_argument("--end-date", type=date.fromisoformat, default=date(2026, 11, 28))
    parser.add_argument("--algorithm", default="ease", help="recommender configuration to fit")
    parser.add_argument("--candidates", type=int, default=50, help="list length re-ranked")
    parser.add_argument("--min-reviews", type=int, default=3)
    args = parser.parse_args(argv)
    apply_runtime_env()
    settings = prepared_home(args.home, args.end_date)

    data = build_recommendation_data(settings)
    train, test, cutoff = temporal_split(data, settings.holdout_days)
    model = fit_candidate(args.algorithm, train)
    truth = holdout_truth(train, test, exclude_bought=True)
    users = sorted(truth)
    lists = model.recommend_batch(users, k=args.candidates, with_scores=True)

    stats = review_stats_before(settings, cutoff)
    smoothed = (stats["n_negative"] + 1) / (stats["n_reviews"] + 2)
    negative: dict[str, float] = smoothed.to_dict()
    flagged = set(smoothed[(smoothed > 0.5) & (stats["n_reviews"] >= args.min_reviews)].index)
    catalogue = set(train["item_id"])
    print(
        f"{args.algorithm} on {len(train):,} interactions before {cutoff:%Y-%m-%d}, "
        f"{len(users):,} hold-out customers; {len(stats):,} reviewed products "
        f"({len(set(stats.index) & catalogue):,} in the catalogue), "
        f"{len(flagged)} with mostly negative reviews before the cut-off"
    )

    base_users, base = topk_per_user(
        dict(zip(users, rerank(lists, "none", {}, set()), strict=True)), truth, K
    )
    rows: list[dict[str, Any]] = []
    for policy in ("none", "demote", "soft 0.5", "soft 1.0"):
        ranked = rerank(lists, policy, negative, flagged)
        evaluated, values = topk_per_user(dict(zip(users, ranked, strict=True)), truth, K)
        assert evaluated == base_users
        diff = values["ndcg"] - base["ndcg"]
        low, high = paired_interval(diff, settings.seed)
        shown = sum(item in flagged for items in ranked for item in items)
        hits_flagged = sum(
            len(set(items) & truth[u] & flagged) for u, items in zip(users, ranked, strict=True)
        )
        rows.append(
            {
                "policy": policy,
                "ndcg@10": values["ndcg"].mean(),
                "precision@10": values["precision"].mean(),
                "recall@10": values["recall"].mean(),
                "ndcg diff (95% CI)": f"{diff.mean():+.4f} ({low:+.4f}, {high:+.4f})",
                "flagged shown / list": shown / len(users),
                "hits on flagged": hits_flagged,
            }
        )
    bought_flagged = sum(len(truth[u] & flagged) for u in users)
    relevant = sum(len(truth[u]) for u in users)
    print(
        f"hold-out purchases of flagged products: {bought_flagged:,} of {relevant:,} "
        f"({bought_flagged / max(relevant, 1):.1%})"
    )
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".4f"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
