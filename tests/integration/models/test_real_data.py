"""Acceptance on the real UCI Online Retail data (skipped where the file is absent).

The models train on what the pipeline builds from the file: interactions from mart
``fct_order_lines``, propensity rows from ``propensity_labels`` with features through Feast.
"""

from __future__ import annotations

import pytest

from mercato.settings import Settings
from models import training
from models.metrics import evaluate_topk
from models.recommendation import compare_candidates, holdout_truth

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def real_comparison(real_warehouse: Settings):
    from models.recommendation import build_recommendation_data

    interactions = build_recommendation_data(real_warehouse)
    return compare_candidates(interactions, holdout_days=30)


def test_champion_recommender_beats_popularity_two_and_a_half_times(real_comparison) -> None:
    results, _, _, _ = real_comparison
    ndcg = {r.name: r.excluded["ndcg_at_10"] for r in results}
    best = max(ndcg, key=ndcg.get)
    assert best != "popularity"
    assert ndcg[best] >= 2.5 * ndcg["popularity"], ndcg


def test_champion_recommender_matches_implicit_als(real_comparison) -> None:
    pytest.importorskip("implicit")
    import numpy as np
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    from models.recommendation import _matrix

    results, _, train, test = real_comparison
    best = max(r.excluded["ndcg_at_10"] for r in results)
    x, users, items = _matrix(train)
    truth = holdout_truth(train, test, exclude_bought=True)
    who = sorted(truth)
    rows = np.searchsorted(users, who)
    with threadpool_limits(1, "blas"):
        als = AlternatingLeastSquares(random_state=42)
        als.fit(x, show_progress=False)
        ids, _ = als.recommend(rows, x[rows], N=10, filter_already_liked_items=True)
    recs = {w: [items[j] for j in ids[n]] for n, w in enumerate(who)}
    als_ndcg = evaluate_topk(recs, truth, 10, len(items))["ndcg_at_10"]
    assert best >= als_ndcg, (best, als_ndcg)


def test_propensity_beats_recency_heuristic(settings: Settings, real_features: Settings) -> None:
    from models.propensity import PropensityFamily, build_propensity_data

    result = training.train(PropensityFamily(), settings, data=build_propensity_data(real_features))
    lr, heur = (
        result.details["comparison"]["logistic"],
        result.details["comparison"]["recency_heuristic"],
    )
    assert lr["roc_auc"] > heur["roc_auc"]
    assert lr["pr_auc"] > heur["pr_auc"]
    assert result.promoted


def test_snapshot_families_sample_whole_customers_above_the_row_limit(
    real_features: Settings,
) -> None:
    import dataclasses

    from models.churn import ChurnFamily, build_churn_data
    from models.propensity import PropensityFamily, build_propensity_data

    limited = dataclasses.replace(real_features, train_max_rows=40_000)
    for build, family in (
        (build_propensity_data, PropensityFamily),
        (build_churn_data, ChurnFamily),
    ):
        whole, sample = build(real_features), build(limited)
        assert whole.attrs["customer_share"] == 1.0
        share = sample.attrs["customer_share"]
        assert 0.3 < share < 0.5
        assert 0.8 * 40_000 < len(sample) < 1.2 * 40_000
        per_customer = whole.groupby("customer_id").size()
        kept = sample.groupby("customer_id").size()
        assert (per_customer.reindex(kept.index) == kept).all()  # every snapshot of a kept one
        # the same rows, features and all, as the whole set holds for those customers
        same = whole[whole["customer_id"].isin(kept.index)].reset_index(drop=True)
        assert sample.reset_index(drop=True).equals(same)
        assert family().split(sample, limited).info["customer_share"] == share
