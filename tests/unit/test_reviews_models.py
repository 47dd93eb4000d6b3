"""Sentiment and text mining as code: the product split, the evidence's units, the terms that
tell praise from complaint, the lexicon baseline, the synthetic reviews and the API's requests.
The trained family's behaviour is in ``tests/integration/models/test_sentiment.py``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixed_dates import END_DATE
from pydantic import ValidationError

from models import text_mining
from models.gate import auc_evidence
from models.sentiment import (
    SimpleLexicon,
    is_holdout_product,
    labelled,
    product_evidence,
    product_split,
)

CORPUS = pd.DataFrame(
    {
        "product_id": ["mug"] * 8 + ["bag"] * 8,
        "category": ["Mug"] * 8 + ["Bag"] * 8,
        "text": [
            "love this mug, lovely colours",
            "love it, lovely gift",
            "lovely mug, love the colours",
            "love love love",
            "the handle came off, broken",
            "broken handle, returned it",
            "arrived broken, handle snapped",
            "it is ok",
            "sturdy bag, love it",
            "sturdy and roomy, love",
            "love how sturdy it is",
            "great bag, sturdy",
            "strap ripped, not happy",
            "ripped after a week",
            "strap ripped, returned",
            "fine",
        ],
        "title": [None] * 16,
        "is_positive": [1, 1, 1, 1, 0, 0, 0, np.nan] * 2,
        "rating": [5, 5, 4, 5, 1, 2, 1, 3] * 2,
    }
)
#: Eight deliveries of the same sixteen reviews: enough uses for a term to be significant.
CORPUS = pd.concat([CORPUS] * 8, ignore_index=True)


def test_no_product_is_on_both_sides_and_sides_are_stable() -> None:
    frame = pd.DataFrame({"product_id": [f"p{i}" for i in range(400)] * 3, "x": range(1200)})
    train, holdout = product_split(frame, seed=42)
    assert not set(train["product_id"]) & set(holdout["product_id"])
    assert 0.1 < holdout["product_id"].nunique() / 400 < 0.3
    # a product's side depends on it and the seed alone: more products move no one
    bigger = pd.concat([frame, pd.DataFrame({"product_id": ["new1", "new2"], "x": [0, 1]})])
    _, again = product_split(bigger, seed=42)
    assert set(holdout["product_id"]) <= set(again["product_id"])
    assert {is_holdout_product(p, 7) for p in frame["product_id"]} == {True, False}


def test_neutral_reviews_are_kept_apart_from_the_labels() -> None:
    rated = labelled(CORPUS)
    assert len(rated) == 14 * 8 and set(rated["is_positive"]) == {0, 1}
    assert 3 not in set(rated["rating"])


def test_the_evidence_resamples_products_and_equals_the_auc_on_the_whole_hold_out() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    s = y + rng.normal(0, 1, 300)
    products = np.repeat([f"p{i:02d}" for i in range(30)], 10)
    grouped = product_evidence({"roc_auc": 0.0}, y, s, products)
    assert grouped.n_units == 30
    assert grouped.value() == pytest.approx(auc_evidence({}, y, s).value())
    weights = np.zeros(30)
    weights[:3] = 1  # the first three products only
    alone = auc_evidence({}, y[:30], s[:30]).value()
    assert grouped.statistic(weights) == pytest.approx(alone)


def test_log_odds_lean_to_the_side_that_uses_a_term_more() -> None:
    z = text_mining.log_odds_z(
        np.array([30.0, 5.0, 10.0]), np.array([2.0, 20.0, 10.0]), np.array([32.0, 25.0, 20.0]), 50
    )[0]
    assert z[0] > 1.96 and z[1] < -1.96 and abs(z[2]) < 1.0


def test_praise_and_complaints_are_found_per_product_and_category() -> None:
    terms = text_mining.mine_terms(CORPUS, k=5)
    praise = {t["term"] for t in terms["overall"]["praise"]}
    complaints = {t["term"] for t in terms["overall"]["complaints"]}
    assert {"sturdy", "colours"} <= praise and "broken" not in praise
    assert {"broken", "ripped"} & complaints and "sturdy" not in complaints
    # how the reviewer felt is not what the product is like: never a term on its own
    assert not (praise | complaints) & text_mining.GENERIC_WORDS
    mug, bag = terms["by_product"]["mug"], terms["by_product"]["bag"]
    assert "broken" in {t["term"] for t in mug["complaints"]}
    assert "ripped" in {t["term"] for t in bag["complaints"]}
    assert "ripped" not in {t["term"] for t in mug["complaints"]}
    assert set(terms["by_category"]) == {"Mug", "Bag"}
    for entry in mug["praise"] + mug["complaints"]:
        assert abs(entry["z"]) >= text_mining.MIN_Z
        assert entry["n_reviews"] >= text_mining.MIN_TERM_REVIEWS


def test_negations_and_too_stay_in_the_terms() -> None:
    _, terms = text_mining.review_terms(["not flattering at all", "too small", "not flattering"], 1)
    assert {"not flattering", "too small"} <= set(terms)


def test_phrases_are_cut_as_written_and_hold_a_word_about_the_product() -> None:
    terms = set(text_mining.review_analyzer("I love the colour, it runs true to size!"))
    assert {"colour", "love the colour", "runs", "true to size", "runs true"} <= terms
    # no term of stop or feeling words alone, none ending on a stop word, none across one
    assert not terms & {"love", "love the", "the colour it", "true size", "it runs"}
    assert "not" not in text_mining.review_analyzer("not great, not bad")
    dress = text_mining.category_words(["Dresses", "Fine gauge"])
    assert {"dresses", "dress", "gauge"} <= dress
    assert "dress" not in text_mining.review_analyzer("a dress with pockets", dress)
    assert "dress with pockets" in text_mining.review_analyzer("a dress with pockets", dress)


def test_topics_group_reviews_with_their_ratings() -> None:
    texts = ["love the soft colour"] * 30 + ["runs small, size up"] * 30
    ratings = [5] * 30 + [2] * 30
    found = text_mining.topics(texts, ratings, n_topics=2, seed=1)
    assert len(found) == 2 and sum(t["n_reviews"] for t in found) == 60
    by_rating = sorted(found, key=lambda t: t["mean_rating"])
    assert "small" in " ".join(by_rating[0]["terms"]) and by_rating[1]["mean_rating"] == 5
    assert text_mining.topics(["too few"], [5]) == []


def test_the_model_reads_title_then_text() -> None:
    assert text_mining.model_texts(["Fits well", "Broke"], ["Love it", None]) == [
        "Love it. Fits well",
        "Broke",
    ]
    assert text_mining.model_texts([None], [float("nan")]) == [""]


def test_the_simple_lexicon_scores_praise_above_complaint_and_flips_negations() -> None:
    scores = SimpleLexicon().scores(["love it, perfect", "broken and cheap", "not great", ""])
    assert scores[0] > 0 > scores[1] and scores[2] < 0 and scores[3] == 0


def test_synthetic_reviews_are_seeded_dated_before_the_end_and_follow_their_rating() -> None:
    from warehouse.synthetic import generate_orders
    from warehouse.synthetic_reviews import COLUMNS, generate_reviews

    orders = generate_orders(end_date=END_DATE, n_customers=120, n_products=40, days=120, seed=3)
    one = generate_reviews(end_date=END_DATE, orders=orders, seed=3, review_rate=0.5)
    again = generate_reviews(end_date=END_DATE, orders=orders, seed=3, review_rate=0.5)
    pd.testing.assert_frame_equal(one, again)
    assert list(one.columns) == COLUMNS and len(one) > 100
    assert pd.to_datetime(one["created_at"]).max() < pd.Timestamp(END_DATE)
    # products and reviewers come from the order lines
    sold = set(orders["StockCode"].astype(str))
    assert set(one["product_id"]) <= sold
    buyers = set(orders["CustomerID"].dropna().astype(int).astype(str))
    assert set(one["customer_id"]) <= buyers
    # the text's sentiment follows the rating: a lexicon scores 1-2 < 3 < 4-5 stars
    texts = one[one["text"] != ""]
    score = pd.Series(SimpleLexicon().scores(list(texts["text"])), index=texts.index)
    side = np.sign(texts["rating"] - 3)
    means = score.groupby(side).mean()
    assert means[-1] < means[0] < means[1], means
    # the defects the gate must catch are there
    assert (one["text"] == "").any() and one["review_id"].duplicated().any()


def test_api_requests_refuse_blank_long_and_mistyped_texts() -> None:
    from serving.apis.sentiment import (
        ProductReviewsRequest,
        SentimentBatchRequest,
        SentimentRequest,
    )
    from warehouse.sources.reviews import MAX_TEXT_CHARS

    assert SentimentRequest(text="fine").title is None
    for bad in ({"text": "   "}, {"text": ""}, {"text": "x" * (MAX_TEXT_CHARS + 1)}, {"text": 3}):
        with pytest.raises(ValidationError):
            SentimentRequest(**bad)
    with pytest.raises(ValidationError):
        SentimentRequest(text="ok", extra=1)
    with pytest.raises(ValidationError):
        SentimentBatchRequest(texts=[])
    with pytest.raises(ValidationError):
        SentimentBatchRequest(texts=["ok", " "])
    assert ProductReviewsRequest(product_id=767).product_id == "767"
    with pytest.raises(ValidationError):
        ProductReviewsRequest(product_id="a\nb")


@pytest.fixture(scope="module")
def small_model():
    """The family's text model fitted on a few dozen clothing-like reviews (a second or two)."""
    from models.sentiment import SentimentModel, fit_text_model

    praise = ["love this dress, fits perfectly", "soft fabric, lovely colour", "so comfy"]
    complaints = ["runs small, returned it", "cheap fabric, itchy", "poor quality, ripped"]
    texts = (praise + complaints) * 8
    labels = np.array(([1] * 3 + [0] * 3) * 8)
    pipeline, _, _ = fit_text_model(texts, labels, [str(i % 5) for i in range(len(texts))])
    return SentimentModel(pipeline, {})


def test_the_driving_terms_add_up_to_the_texts_log_odds(small_model) -> None:
    from models.sentiment import Explainer

    explainer = Explainer(small_model.pipeline)
    texts = ["Love the fabric, but it runs small!! tts", "ok", "Itchy.  Returned 😞 it"]
    for text, weights in zip(texts, explainer.contributions(texts), strict=True):
        p = small_model.predict_proba(text)
        assert sum(weights.values()) + explainer.intercept == pytest.approx(np.log(p / (1 - p)))
    # every term is a word or phrase of the text, never a character fragment
    first = explainer.contributions(texts[:1])[0]
    assert set(first) <= {"love", "the", "fabric", "but", "it", "runs", "small", "tts"} | {
        "love the",
        "the fabric",
        "fabric but",
        "but it",
        "it runs",
        "runs small",
    }
    # a word the word vocabulary lacks still gets its characters' weight
    assert "tts" in first and first["tts"] != 0


def test_the_driving_terms_point_the_way_the_text_leans(small_model) -> None:
    found = small_model.explain_many(
        ["Love it but it runs small", "Soft and lovely"], ["Great", None], k=3
    )
    mixed, praise = found
    assert mixed["positive"][0][0] in {"love", "great"}
    assert {"small", "runs small", "runs"} & {t for t, _ in mixed["negative"]}
    assert all(w > 0 for _, w in mixed["positive"]) and all(w < 0 for _, w in mixed["negative"])
    assert len(mixed["positive"]) <= 3 and len(mixed["negative"]) <= 3
    weights = [abs(w) for _, w in mixed["negative"]]
    assert weights == sorted(weights, reverse=True)
    assert not any(t in {"small", "runs"} for t, _ in praise["negative"][:1])
    # the explainer is rebuilt after pickling, not stored with the model
    import pickle

    again = pickle.loads(pickle.dumps(small_model))
    assert "_explainer" not in again.__dict__
    assert again.explain_many(["Soft and lovely"], k=3) == small_model.explain_many(
        ["Soft and lovely"], k=3
    )


def test_api_requests_bound_the_number_of_driving_terms() -> None:
    from serving.apis.sentiment import MAX_DRIVERS, SentimentBatchRequest, SentimentRequest

    assert SentimentRequest(text="fine").terms == 5
    assert SentimentBatchRequest(texts=["a"], terms=0).terms == 0
    for bad in (-1, MAX_DRIVERS + 1, "3"):
        with pytest.raises(ValidationError):
            SentimentRequest(text="fine", terms=bad)
