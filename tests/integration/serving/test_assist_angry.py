"""The assistant's anger hand-over with a sentiment model fitted on the real clothing reviews.

``Assistant._hand_over_reason`` hands a shouting message (or a complaint) to a person when the
sentiment champion's P(positive) is below ``ANGRY_BELOW``. The model of the small generated
reviews is too weak to show it, so this fits the served configuration
(``models.sentiment.fit_text_model``: TF-IDF words 1-2 and characters 2-5 into a logistic
regression) on a sample of the real reviews, with the intent model of generated support
messages (as tests/unit/test_intent_model.py), the default knowledge pages and no orders; no
server. One fit of the fixed ``C`` the CV falls back to, not the grid: the grid's nine fold
fits would take minutes on the shared cores.

Measured (P(positive) of the angry message): 0.69 with these 2,000 reviews; 0.125 with all
19,818 labelled reviews and the ``C`` = 16 their CV picks (a two-minute fit, so not here). Both
are above ``ANGRY_BELOW`` = 0.1, while "TERRIBLE!" alone scores 0.004 on the full fit: clothing
reviews have no words for a delivery that never came. The angry hand-over test is therefore a
strict ``xfail``: it states the behaviour issue #17 asks for and fails (XPASS) the day the
served model delivers it. The threshold is left as it is: no hold-out of labelled support
messages says where it should be.
"""

from __future__ import annotations

import csv

import pytest
from fixed_dates import END_DATE

from mercato.settings import REPO_ROOT

REVIEWS = (
    REPO_ROOT.parent / "shared" / "data" / "reviews" / "womens_clothing_ecommerce_reviews.csv.zip"
)
N_REVIEWS = 2_000
ANGRY = "THIS IS TERRIBLE, my order never came and nobody answers!"
#: The same topic, calm, but with an exclamation mark so that the sentiment model is asked.
CALM = "Hi! My order has not arrived yet, could you check when it will come?"
SENTIMENT_SOURCE = {"kind": "model", "name": "mercato_sentiment"}


@pytest.fixture(scope="module")
def sentiment():
    """The served sentiment configuration fitted on ``N_REVIEWS`` real reviews (4-5 stars
    positive, 1-2 negative, 3 left out; title and text; product-grouped)."""
    if not REVIEWS.is_file():
        pytest.skip(f"real reviews not found at {REVIEWS}")
    from threadpoolctl import threadpool_limits

    from models.sentiment import SentimentModel, fit_text_model
    from models.sentiment_files import labelled_texts

    data, _ = labelled_texts(
        REVIEWS,
        text_col="Review Text",
        label_col="Rating",
        title_col="Title",
        group_col="Clothing ID",
    )
    sample = data.sample(N_REVIEWS, random_state=0)
    with threadpool_limits(1):  # one BLAS thread: two shared cores
        pipeline, _, _ = fit_text_model(
            list(sample["text"]), sample["label"].to_numpy(), sample["group"], grid=()
        )
    return SentimentModel(pipeline, {})


@pytest.fixture(scope="module")
def intent_model():
    """The intent family's served model, fitted on generated support messages."""
    from models.intent import compare, frequent_intents, stratified_split
    from warehouse.synthetic_support import make_messages

    frame = make_messages(600, seed=5, end_date=END_DATE).rename(columns={"instruction": "text"})
    train, holdout = stratified_split(frequent_intents(frame), 0.25, seed=0)
    return compare(train, holdout)["model"]


@pytest.fixture
def assistant(tmp_path):
    from serving.assistant.dialogue import Assistant
    from serving.assistant.knowledge import KnowledgeBase, ensure_defaults
    from serving.assistant.log import ConversationLog

    ensure_defaults(tmp_path / "knowledge")
    return Assistant(KnowledgeBase(tmp_path / "knowledge"), ConversationLog(tmp_path / "log"))


def tickets(assistant) -> list[dict[str, str]]:
    path = assistant.log.tickets
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_real_review_model_finds_the_angry_message_less_positive(sentiment) -> None:
    assert sentiment.predict_proba(ANGRY) < sentiment.predict_proba(CALM) - 0.1


@pytest.mark.xfail(
    strict=True,
    reason="models fitted on the clothing reviews give the angry delivery message P(positive) "
    "0.69 (2,000 reviews) and 0.125 (all 19,818), over ANGRY_BELOW 0.1",
)
def test_an_angry_shouting_message_is_handed_over_as_angry(
    assistant, intent_model, sentiment
) -> None:
    from serving.assistant.shop import Snapshot

    turn = assistant.respond(ANGRY, None, None, intent_model, Snapshot.empty(), sentiment)
    assert SENTIMENT_SOURCE in turn.sources
    assert turn.handed_over and turn.hand_over_reason == "the message is angry"
    written = tickets(assistant)
    assert [(t["ticket_id"], t["reason"]) for t in written] == [
        (turn.ticket_id, "the message is angry")
    ]


def test_a_calm_question_on_the_same_topic_is_not_handed_over_for_anger(
    assistant, intent_model, sentiment
) -> None:
    from serving.assistant.dialogue import ANGRY_BELOW
    from serving.assistant.shop import Snapshot

    assert sentiment.predict_proba(CALM) >= ANGRY_BELOW
    turn = assistant.respond(CALM, None, None, intent_model, Snapshot.empty(), sentiment)
    assert SENTIMENT_SOURCE in turn.sources  # the "!" had the model asked...
    assert turn.hand_over_reason != "the message is angry"  # ...and it found no anger
    assert all(t["reason"] != "the message is angry" for t in tickets(assistant))
