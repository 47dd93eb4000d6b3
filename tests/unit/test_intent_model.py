"""The intent family's models on generated messages: the fast path, baselines and threshold."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from models.intent import (
    MIN_THRESHOLD,
    compare,
    frequent_intents,
    stratified_split,
    tune_threshold,
)
from warehouse.synthetic_support import make_messages


@pytest.fixture(scope="module")
def result():
    frame = make_messages(600, seed=5, end_date=date(2011, 12, 10)).rename(
        columns={"instruction": "text"}
    )
    train, holdout = stratified_split(frequent_intents(frame), 0.25, seed=0)
    return compare(train, holdout), holdout


def test_the_served_model_beats_its_baselines_and_answers_most_messages(result) -> None:
    figures, _ = result
    hold_out = figures["hold_out"]
    ours = hold_out["tfidf_logistic"]
    assert (
        ours["accuracy"] > hold_out["keyword_rule"]["accuracy"] > hold_out["majority"]["accuracy"]
    )
    assert ours["accuracy"] >= 0.85 and ours["macro_f1"] >= 0.85
    assert ours["unsure_rate"] < 0.3 and ours["answered_accuracy"] >= ours["accuracy"]
    assert figures["threshold"] >= MIN_THRESHOLD


def test_the_fast_path_equals_the_pipeline_and_typos_keep_the_intent(result) -> None:
    model = result[0]["model"]
    for text in ("where is my order 536365", "", "ßüñ 😀 ???", "I want to talk to a human"):
        assert np.allclose(model.predict_proba_one(text), model.predict_proba_many([text])[0])
    assert model.classify("I want to talk to a humn")["intent"] == "contact_human_agent"
    unsure = model.classify("qwzx vbnm")
    assert unsure["unsure"] and unsure["probability"] < model.threshold


def test_the_threshold_trades_wrong_answers_for_hand_overs() -> None:
    truth = np.array(["a"] * 8 + ["b"] * 2)
    predicted = np.array(["a"] * 8 + ["a"] * 2)  # the two b's are wrong...
    confidence = np.array([0.9] * 8 + [0.4, 0.45])  # ...and the model is unsure of them
    assert tune_threshold(truth, predicted, confidence) == 0.5
    # all right: the lowest threshold allowed
    assert tune_threshold(truth, truth, confidence) == MIN_THRESHOLD
