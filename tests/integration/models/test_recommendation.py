"""Recommender behaviour on constructed data, and the train -> register -> serve round trip."""

from __future__ import annotations

import numpy as np
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


# -- user-based, content, hybrid, tuning, segments, the EASE switch ----------------------------
def lantern_frame() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Interactions plus item text: "fan" customers buy lanterns; L9 is a lantern nobody has
    bought yet (a cold item), C1..C3 are candles the crowd buys."""
    rows = []
    for u in range(20):
        rows += [(f"fan{u}", "L1"), (f"fan{u}", "L2"), (f"fan{u}", f"L{3 + u % 3}")]
    for u in range(40):
        rows += [(f"crowd{u}", f"C{1 + u % 3}"), (f"crowd{u}", f"C{1 + (u + 1) % 3}")]
    rows += [("newfan", "L1")]
    df = pd.DataFrame(rows, columns=["user_id", "item_id"])
    df["rating"] = 1.0
    df["timestamp"] = pd.Timestamp("2024-01-01")
    names = {f"L{i}": f"RED PAPER LANTERN {i}" for i in range(1, 6)}
    names["L9"] = "RED PAPER LANTERN LARGE"
    names.update({f"C{i}": f"VANILLA SCENTED CANDLE {i}" for i in range(1, 4)})
    items = pd.DataFrame({"item_id": list(names), "text": list(names.values())})
    items["description"] = items["text"]
    return df, items


def test_user_knn_neighbourhood_size_and_shrinkage() -> None:
    from models.recommenders import fit_userknn, interaction_matrix

    x, users, _ = interaction_matrix(co_bought_frame())
    for similarity in ("cosine", "pearson"):
        sims = fit_userknn(x, similarity, n_neighbors=3, shrinkage=0.0)
        assert sims.getnnz(axis=1).max() <= 3
        assert sims.diagonal().sum() == 0
        plain = fit_userknn(x, similarity, n_neighbors=200, shrinkage=0.0).toarray()
        shrunk = fit_userknn(x, similarity, n_neighbors=200, shrinkage=10.0).toarray()
        ab0, ab1 = np.searchsorted(users, ["ab0", "ab1"])
        target = np.searchsorted(users, "target")
        # two A+B buyers share 2 items, the target shares 1 with them: shrinkage hurts it more
        assert shrunk[ab0, ab1] / plain[ab0, ab1] > shrunk[target, ab0] / plain[target, ab0]


def test_pearson_differs_from_cosine_by_centring() -> None:
    from models.recommenders import fit_userknn, interaction_matrix

    x, _, _ = interaction_matrix(co_bought_frame())
    cosine = fit_userknn(x, "cosine", 500, 0.0).toarray()
    pearson = fit_userknn(x, "pearson", 500, 0.0).toarray()
    assert (pearson <= cosine + 1e-6).all()  # centring subtracts the chance overlap
    assert not np.allclose(pearson, cosine)
    with pytest.raises(ValueError, match="unknown user similarity"):
        fit_userknn(x, "jaccard")


def test_content_and_hybrid_recommend_a_cold_item_collaborative_methods_cannot() -> None:
    df, items = lantern_frame()
    for name in ("content", "hybrid"):
        recs = [i for i, _ in fit_candidate(name, df, items=items).recommend("newfan", k=5)]
        assert "L9" in recs, (name, recs)
        assert not {"C1", "C2", "C3"} & set(recs), (name, recs)
    ease = fit_candidate("ease", df, items=items)
    assert "L9" in ease.item_ids  # in the catalogue through its text...
    assert "L9" not in [i for i, _ in ease.recommend("newfan", k=5)]  # ...EASE cannot score it
    with pytest.raises(ValueError, match="needs item text"):
        fit_candidate("content", df)


def test_similar_items_of_a_cold_item_answer_by_content_and_items_carry_descriptions() -> None:
    df, items = lantern_frame()
    model = fit_candidate("ease", df, items=items)
    pairs, method = model.similar_items_explained("L9", k=3)
    assert method == "content"
    assert {code for code, _ in pairs} <= {"L1", "L2", "L3", "L4", "L5"}
    assert model.similar_items_explained("L1", k=3)[1] == "ease"
    assert model.describe("L9") == "RED PAPER LANTERN LARGE"
    assert model.describe("nope") is None
    assert model.recommend_explained("stranger", k=2)[1] == "popularity"
    assert model.recommend_explained("newfan", k=2)[1] == "ease"
    user_based = fit_candidate("userknn_pearson", df, items=items)
    assert user_based.recommend_explained("newfan", k=2)[1] == "userknn_pearson"
    assert user_based.similar_items_explained("L1", k=2)[1] == "itemknn"


def test_hybrid_scores_an_item_without_buyers_by_its_text_alone() -> None:
    import scipy.sparse as sp

    from models.recommenders import fit_hybrid

    collaborative = sp.csr_matrix(np.array([[0, 2.0, 0], [2.0, 0, 0], [1.0, 1.0, 0]]))
    content = sp.csr_matrix(np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]))
    blend = fit_hybrid(collaborative, content, np.array([50, 50, 0]), alpha=0.1, shrinkage=5.0)
    scale_c = content.sum(axis=1).mean()
    # the column of the item without buyers is its content column, scaled
    assert blend[:, 2].toarray().ravel() == pytest.approx(
        content[:, 2].toarray().ravel() / scale_c, rel=1e-5
    )


def test_tuning_uses_a_validation_split_of_the_training_part_only(
    synthetic_interactions: pd.DataFrame,
) -> None:
    from models.recommendation import score_candidates, tune_candidate

    train, test, _ = temporal_split(synthetic_interactions, 30)
    grid = [{"n_neighbors": n} for n in (5, 50)]
    params, score, trials = tune_candidate("itemknn", train, 30, grid=grid)
    assert [t["n_neighbors"] for t in trials] == [5, 50]
    assert score == max(t["validation_ndcg"] for t in trials)
    assert params["n_neighbors"] == max(trials, key=lambda t: t["validation_ndcg"])["n_neighbors"]
    # the hold-out plays no part in what is chosen: a scrambled hold-out chooses the same
    scrambled = test.assign(item_id=test["item_id"].sample(frac=1.0, random_state=1).to_numpy())
    first, _ = score_candidates(train, test, ["itemknn", "ease"], tune_days=30)
    second, _ = score_candidates(train, scrambled, ["itemknn", "ease"], tune_days=30)
    assert [r.params for r in first] == [r.params for r in second]
    assert all(r.validation_ndcg is not None and r.trials for r in first)


def test_cold_item_and_light_customer_rows() -> None:
    from models.recommendation import light_customers, segment_truths

    train = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "b", "c", "c"],
            "item_id": ["X", "Y", "Z", "X", "Y", "X"],
            "timestamp": pd.to_datetime(
                ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-01", "2024-01-01"] * 1
                + ["2024-01-05"]
            ),
        }
    )
    assert light_customers(train) == {"b", "c"}
    truth = {"a": {"NEW", "Y"}, "b": {"Y"}, "c": {"Z"}}
    segments = segment_truths(train, truth)
    assert segments["cold_items"] == {"a": {"NEW"}}
    assert segments["light_customers"] == {"b": {"Y"}, "c": {"Z"}}


def test_ease_switches_to_item_knn_above_the_dense_catalogue_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from models import recommenders

    df = co_bought_frame()
    n_items = df["item_id"].nunique()
    assert fit_candidate("ease", df, max_dense_items=n_items).algorithm == "ease"

    def dense_fit(*args, **kwargs):
        raise AssertionError("EASE's dense matrices were built above the limit")

    monkeypatch.setattr(recommenders, "fit_ease", dense_fit)
    switched = fit_candidate("ease", df, max_dense_items=n_items - 1)
    assert switched.algorithm == "itemknn"
    assert switched.params["switched_from"] == "ease"
    assert switched.recommend("target", k=1)[0][0] == "B"
    assert recommenders.ease_fits(recommenders.DENSE_MAX_ITEMS)
    assert not recommenders.ease_fits(recommenders.DENSE_MAX_ITEMS + 1)
    # the switched configuration refits (the gate's champion check) without EASE either
    assert refit(switched, df).algorithm == "itemknn"


def test_family_trains_every_method_with_item_text(
    settings: Settings, synthetic_warehouse: Settings, synthetic_interactions: pd.DataFrame
) -> None:
    import mlflow

    from models.recommendation import METHODS, RecommendationData, build_item_text

    items = build_item_text(synthetic_warehouse)
    data = RecommendationData(synthetic_interactions, items)
    result = training.train(RecommendationFamily(), settings, data=data)
    assert [r.name for r in result.details["candidates"]] == list(METHODS)
    assert all(r.validation_ndcg is not None for r in result.details["candidates"])
    mlflow.set_tracking_uri(settings.tracking_uri)
    run = mlflow.get_run(result.run_id)
    assert "hybrid.alpha" in run.data.params and "userknn_pearson.shrinkage" in run.data.params
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(result.run_id)}
    assert "tuning.json" in artifacts
    served = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion").unwrap_python_model()
    code = str(served.item_ids[0])
    assert served.describe(code) == items.set_index("item_id").loc[code, "description"]
    assert served.content is not None
