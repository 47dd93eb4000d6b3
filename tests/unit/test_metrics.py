"""Ranking metrics against cases computed by hand."""

from __future__ import annotations

import math

import pytest

from models.metrics import (
    average_precision_at_k,
    catalog_coverage,
    evaluate_topk,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    topk_per_user,
)

RECS = ["a", "b", "c", "d", "e"]
RELEVANT = {"b", "d", "x"}


def test_precision_and_recall_count_hits_in_the_top_k() -> None:
    assert precision_at_k(RECS, RELEVANT, 2) == pytest.approx(1 / 2)
    assert precision_at_k(RECS, RELEVANT, 5) == pytest.approx(2 / 5)
    assert recall_at_k(RECS, RELEVANT, 2) == pytest.approx(1 / 3)
    assert recall_at_k(RECS, RELEVANT, 5) == pytest.approx(2 / 3)


def test_short_lists_count_empty_slots_as_misses() -> None:
    assert precision_at_k(["b"], RELEVANT, 4) == pytest.approx(1 / 4)


def test_ndcg_by_hand() -> None:
    # hits at ranks 2 and 4: DCG = 1/log2(3) + 1/log2(5); ideal with 3 relevant in top 5:
    # 1 + 1/log2(3) + 1/log2(4)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(RECS, RELEVANT, 5) == pytest.approx(dcg / idcg)
    # at k=2 the ideal has only 2 slots: 1 + 1/log2(3)
    assert ndcg_at_k(RECS, RELEVANT, 2) == pytest.approx(
        (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    )
    assert ndcg_at_k(["b", "d", "x"], RELEVANT, 3) == pytest.approx(1.0)


def test_average_precision_by_hand() -> None:
    # hits at 2 (precision 1/2) and 4 (precision 2/4), normalised by min(k, |rel|) = 3
    assert average_precision_at_k(RECS, RELEVANT, 5) == pytest.approx((1 / 2 + 2 / 4) / 3)
    assert average_precision_at_k(["x", "b", "d"], RELEVANT, 3) == pytest.approx(1.0)
    assert average_precision_at_k(["q"], RELEVANT, 3) == 0.0


def test_duplicates_score_once() -> None:
    assert precision_at_k(["b", "b", "b"], {"b"}, 3) == pytest.approx(1 / 3)


def test_coverage_counts_distinct_items_in_top_k() -> None:
    assert catalog_coverage([["a", "b", "c"], ["a", "d"]], 10, 2) == pytest.approx(3 / 10)


def test_evaluate_topk_averages_over_users_with_relevant_items() -> None:
    recs = {"u1": ["a", "b"], "u2": ["c", "d"], "u3": ["a"]}
    truth = {"u1": {"a"}, "u2": {"x"}, "u3": set()}
    out = evaluate_topk(recs, truth, 2, catalog_size=4)
    assert out["n_users"] == 2
    assert out["precision_at_2"] == pytest.approx((1 / 2 + 0) / 2)
    assert out["recall_at_2"] == pytest.approx(0.5)
    assert out["ndcg_at_2"] == pytest.approx(0.5)
    assert out["map_at_2"] == pytest.approx(0.5)
    assert out["coverage_at_2"] == pytest.approx(4 / 4)


def test_evaluate_topk_refuses_empty_truth() -> None:
    with pytest.raises(ValueError):
        evaluate_topk({}, {"u": set()}, 5, 3)


@pytest.mark.parametrize("k", [1, 3, 10])
def test_per_user_values_equal_the_metric_functions(k: int) -> None:
    import random

    rng = random.Random(k)
    recs = {u: [rng.randrange(30) for _ in range(rng.randrange(0, 15))] for u in range(200)}
    truth = {u: {rng.randrange(30) for _ in range(rng.randrange(1, 12))} for u in range(210)}
    users, values = topk_per_user(recs, truth, k)
    for i, u in enumerate(users):
        got = recs.get(u, [])
        assert values["precision"][i] == pytest.approx(precision_at_k(got, truth[u], k))
        assert values["recall"][i] == pytest.approx(recall_at_k(got, truth[u], k))
        assert values["ndcg"][i] == pytest.approx(ndcg_at_k(got, truth[u], k))
        assert values["map"][i] == pytest.approx(average_precision_at_k(got, truth[u], k))
