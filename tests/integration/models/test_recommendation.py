"""Recommender behaviour on constructed data, and the train -> register -> serve round trip."""

from __future__ import annotations

import pandas as pd
import pytest

from mercato.settings import Settings
from models import registry, training
from models.recommendation import (
    CANDIDATES,
    MODEL_NAME,
    PRIMARY_METRIC,
    RecommendationFamily,
    evaluate_recommendation,
    fit_candidate,
    normalize_interactions,
    refit,
    temporal_split,
)

ITEM_BASED = [c for c in CANDIDATES if c != "popularity"]


def co_bought_frame() -> pd.DataFrame:
    """A is always bought with B; P1..P3 are popular with everyone else but never with A."""
    rows = []
    for u in range(30):  # A-and-B buyers
        rows += [(f"ab{u}", "A"), (f"ab{u}", "B")]
    for u in range(60):  # the crowd buys the popular items (more buyers than B)
        rows += [(f"crowd{u}", f"P{1 + u % 3}"), (f"crowd{u}", f"P{1 + (u + 1) % 3}")]
        rows += [(f"crowd{u}", f"Q{u % 10}")]
    rows += [("target", "A")]
    df = pd.DataFrame(rows, columns=["user_id", "item_id"])
    df["rating"] = 1.0
    df["timestamp"] = pd.Timestamp("2024-01-01")
    return df


@pytest.mark.parametrize("name", ITEM_BASED)
def test_co_bought_item_ranks_ahead_of_unrelated_popular_items(name: str) -> None:
    model = fit_candidate(name, co_bought_frame())
    recs = [item for item, _ in model.recommend("target", k=4)]
    assert recs[0] == "B"
    assert "A" not in recs


def test_popularity_floor_ranks_by_buyers() -> None:
    model = fit_candidate("popularity", co_bought_frame())
    top3 = {item for item, _ in model.recommend("target", k=3)}
    assert top3 == {"P1", "P2", "P3"}


@pytest.mark.parametrize("name", CANDIDATES)
def test_exclude_bought_is_explicit(name: str) -> None:
    model = fit_candidate(name, co_bought_frame())
    bought = {"A", "B"}
    excluded = {i for i, _ in model.recommend("ab0", k=10, exclude_bought=True)}
    included = {i for i, _ in model.recommend("ab0", k=10, exclude_bought=False)}
    assert not excluded & bought
    assert included & bought
    batch = model.recommend_batch(["ab0", "ab1"], k=10, exclude_bought=True)
    assert all(not set(lst) & bought for lst in batch)


def test_cold_start_and_similar_items() -> None:
    model = fit_candidate("ease", co_bought_frame())
    assert not model.known_customer("stranger")
    assert model.known_customer("target")
    assert [i for i, _ in model.recommend("stranger", k=3)] == [i for i, _ in model.popular(3)]
    assert model.similar_items("A", k=1)[0][0] == "B"
    with pytest.raises(KeyError):
        model.similar_items("no-such-item")


def test_normalize_accepts_outside_formats() -> None:
    raw = pd.DataFrame(
        {
            "user_id": [1.0, 2.0, None],
            "item_id": [10, 11, 12],
            "rating": [5, None, 1],
            "timestamp": [1_700_000_000, 1_700_000_100, 1_700_000_200],
        }
    )
    out = normalize_interactions(raw)
    assert list(out["user_id"]) == ["1", "2"]
    assert list(out["item_id"]) == ["10", "11"]
    assert out["rating"].tolist() == [5.0, 1.0]
    assert out["timestamp"].iloc[0] == pd.Timestamp("2023-11-14 22:13:20")


def test_temporal_split_holds_out_the_last_days(synthetic_interactions: pd.DataFrame) -> None:
    train, test, cutoff = temporal_split(synthetic_interactions, 30)
    assert train["timestamp"].max() < cutoff <= test["timestamp"].min()
    assert cutoff == synthetic_interactions["timestamp"].max() - pd.Timedelta(days=30)


def test_collaborative_models_beat_popularity_on_generated_data(
    synthetic_interactions: pd.DataFrame,
) -> None:
    train, test, _ = temporal_split(synthetic_interactions, 30)
    pop = evaluate_recommendation(fit_candidate("popularity", train), train, test)
    ease = evaluate_recommendation(fit_candidate("ease", train), train, test)
    assert ease["ndcg_at_10"] > 1.5 * pop["ndcg_at_10"]


def test_train_registers_a_champion_serving_can_load(
    settings: Settings, synthetic_interactions: pd.DataFrame
) -> None:
    import mlflow

    first = training.train(RecommendationFamily(), settings, data=synthetic_interactions)
    assert first.promoted and first.version == "1"
    assert first.metrics["ndcg_at_10"] > 0
    second = training.train(RecommendationFamily(), settings, data=synthetic_interactions)
    # same data and seed: same metrics, and the version trained on them is reused, not duplicated
    assert second.metrics == first.metrics
    assert second.version == "1" and "unchanged" in second.decision
    c = registry.client(settings)
    assert [str(v.version) for v in c.search_model_versions(f"name='{MODEL_NAME}'")] == ["1"]
    assert registry.champion_version(settings, MODEL_NAME) == "1"

    mlflow.set_tracking_uri(settings.tracking_uri)
    model = mlflow.pyfunc.load_model("models:/mercato_recommender@champion").unwrap_python_model()
    customer = model.user_ids[0]
    recs = model.recommend(customer, k=5)
    assert len(recs) == 5 and all(isinstance(s, float) for _, s in recs)
    run = mlflow.get_run(first.run_id)
    assert run.data.tags["data_version"]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(first.run_id)}
    assert {"precision_at_k.png", "candidates.json"} <= artifacts
    assert str(settings.home) in run.info.artifact_uri


def test_served_model_knows_the_hold_out_purchases_and_the_gate_refits_the_champion(
    settings: Settings, synthetic_interactions: pd.DataFrame
) -> None:
    import mlflow

    data = normalize_interactions(synthetic_interactions)
    train, test, _ = temporal_split(data, settings.holdout_days)
    newcomers = sorted(set(test["user_id"]) - set(train["user_id"]))
    assert newcomers, "the generated data has customers who first buy in the hold-out"
    first = training.train(RecommendationFamily(), settings, data=synthetic_interactions)
    assert first.promoted

    mlflow.set_tracking_uri(settings.tracking_uri)
    served = mlflow.pyfunc.load_model("models:/mercato_recommender@champion").unwrap_python_model()
    # A customer whose first purchase is in the hold-out is known, not a cold start...
    assert served.known_customer(newcomers[0])
    # ...and what anyone bought in the hold-out is not recommended back to them.
    row = test.iloc[0]
    recommended = {code for code, _ in served.recommend(row["user_id"], k=50)}
    assert row["item_id"] not in recommended

    # The gate scores the champion's configuration refitted on the pre-cut-off data, which has
    # not seen the hold-out: a new challenger (popularity only, so a new version) records that
    # score as the champion's value.
    assert not refit(served, train).known_customer(newcomers[0])
    challenger = training.train(
        RecommendationFamily(candidates=["popularity"]), settings, data=synthetic_interactions
    )
    assert challenger.version != first.version
    tags = registry.client(settings).get_model_version(MODEL_NAME, challenger.version).tags
    assert tags["gate.champion_version"] == first.version
    refitted = evaluate_recommendation(refit(served, train), train, test, exclude_bought=True)
    assert float(tags["gate.champion_value"]) == pytest.approx(refitted[PRIMARY_METRIC], abs=1e-6)
