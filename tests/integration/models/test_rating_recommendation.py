"""Recommendations from explicit ratings: Pearson over co-rated items, likes learned and every
rated item seen, the family on generated ratings, and the pipeline's round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixed_dates import END_DATE

from mercato.settings import Settings
from models import registry
from models.rating_recommendation import (
    MODEL_NAME,
    RELEVANT_RATING,
    RatingRecommendationFamily,
    build_rating_data,
)
from models.recommendation import (
    RecommendationData,
    fit_candidate,
    normalize_interactions,
    refit,
)
from warehouse.synthetic_ratings import generate_ratings


def _frame(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    frame["timestamp"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame.index, unit="min")
    return normalize_interactions(frame)


def test_explicit_pearson_is_the_correlation_of_centred_ratings_over_co_rated_items() -> None:
    from models.recommenders import aligned_matrix, centred_ratings, fit_userknn_ratings

    rng = np.random.default_rng(5)
    rows = [
        (f"u{u}", f"i{i}", float(rng.integers(1, 11)) / 2)
        for u in range(9)
        for i in range(12)
        if rng.random() < 0.6
    ]
    frame = _frame(rows)
    users = np.unique(frame["user_id"].to_numpy(dtype=str))
    items = np.unique(frame["item_id"].to_numpy(dtype=str))
    centred = centred_ratings(frame, users, items, None)
    rated = aligned_matrix(frame, users, items)
    got = fit_userknn_ratings(centred, rated, n_neighbors=100, shrinkage=0.0).toarray()

    table = frame.pivot(index="user_id", columns="item_id", values="rating").loc[users, items]
    dev = table.sub(table.mean(axis=1), axis=0).to_numpy()
    expected = np.zeros((len(users), len(users)))
    for u in range(len(users)):
        for v in range(len(users)):
            both = ~np.isnan(dev[u]) & ~np.isnan(dev[v])
            den = np.sqrt((dev[u, both] ** 2).sum() * (dev[v, both] ** 2).sum())
            if u != v and den > 0:
                expected[u, v] = max((dev[u, both] * dev[v, both]).sum() / den, 0.0)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert (expected > 0).sum() > 10  # the check compares real neighbours


def test_a_disliked_item_is_not_learned_as_a_like_and_no_rated_item_comes_back() -> None:
    rows = [(f"fan{u}", "A", 5.0) for u in range(10)] + [(f"fan{u}", "B", 5.0) for u in range(10)]
    rows += [(f"crowd{u}", "A", 5.0) for u in range(30)]
    rows += [(f"crowd{u}", "C", 1.0) for u in range(30)]
    rows += [("target", "A", 5.0), ("severe", "A", 5.0), ("severe", "C", 1.0)]
    frame = _frame(rows)
    as_purchases = fit_candidate("itemknn", frame.assign(rating=1.0))
    assert as_purchases.recommend("target", k=1)[0][0] == "C"  # bought together most often
    liked = fit_candidate("itemknn", frame, min_rating=RELEVANT_RATING)
    assert liked.recommend("target", k=1)[0][0] == "B"  # liked together
    for name in ("itemknn", "ease", "userknn_pearson", "popularity"):
        model = fit_candidate(name, frame, min_rating=RELEVANT_RATING)
        assert "C" not in [i for i, _ in model.recommend("severe", k=5)], name
        assert model.recommend_batch(["severe"], k=5)[0] == [
            i for i, _ in model.recommend("severe", k=5)
        ]
        assert refit(model, frame).params["min_rating"] == RELEVANT_RATING


def test_the_family_on_generated_ratings_judges_likes_and_beats_popularity(
    settings: Settings,
) -> None:
    ratings = generate_ratings(end_date=END_DATE, n_users=200, n_items=100, seed=11)
    family = RatingRecommendationFamily(tune=False)
    split = family.split(RecommendationData(normalize_interactions(ratings)), settings)
    assert (split.holdout["rating"] >= RELEVANT_RATING).all()
    assert split.info["relevant"] == "items rated >= 4"
    fitted = family.fit(split, settings)
    results = {r.name: r.excluded["ndcg_at_10"] for r in fitted.details["candidates"]}
    assert results["userknn_pearson"] > 1.5 * results["popularity"], results
    assert max(results.values()) == results[fitted.params["champion_candidate"]]
    assert fitted.served.seen is not None and fitted.served.params["min_rating"] == 4.0
    evidence = family.evaluate(fitted.model, split, fitted)
    assert evidence.metrics["ndcg_at_10"] == pytest.approx(max(results.values()))


def test_the_pipeline_trains_a_rating_recommender_from_the_ratings_source(
    pipeline_home: Settings,
) -> None:
    ratings = build_rating_data(pipeline_home)
    assert len(ratings) > 500 and ratings["rating"].between(0.5, 5).all()
    version = registry.champion_version(pipeline_home, MODEL_NAME)
    assert version is not None
    model = registry.load_version(pipeline_home, MODEL_NAME, version)
    assert model.params["min_rating"] == RELEVANT_RATING
    user = str(ratings["user_id"].iloc[0])
    rated = set(ratings.loc[ratings["user_id"] == user, "item_id"])
    recs = [item for item, _ in model.recommend(user, k=10)]
    assert len(recs) == 10 and not rated & set(recs)
    # the shop's ratings are of its own products: every answer can be named
    assert all(model.describe(item) for item in recs)
