"""The support source: Bitext's columns recognised, bad rows named, bad spans dropped."""

from __future__ import annotations

from datetime import date

import pandas as pd

from warehouse.sources import recognise
from warehouse.sources.support import SOURCE, parse, to_rows
from warehouse.synthetic_support import INTENTS, make_messages

BITEXT = ["context", "role", "instruction", "intent", "entity_type", "entity_value"]
BITEXT += ["start_offset", "end_offset", "category", "tags", "response"]


def test_the_bitext_export_is_recognised_as_support_and_reviews_are_not() -> None:
    assert recognise(BITEXT).name == "support"
    assert recognise(["review_id", "product_id", "rating", "text"]).name == "reviews"


def test_bad_rows_are_named_and_a_span_outside_its_text_is_dropped_not_the_message() -> None:
    frame = pd.DataFrame(
        {
            "instruction": ["where is order 536365", "  ", "cancel purchase 3707955617", "hi"],
            "intent": ["track_order", "track_order", "cancel_order", "Not An Intent!"],
            "category": ["ORDER", "ORDER", "ORDER", "ORDER"],
            "entity_type": ["order_id", None, "order_id", None],
            "entity_value": ["536365", None, "3707955617", None],
            "start_offset": [15, None, 16, None],
            "end_offset": [21, None, 40, None],
        }
    )
    parsed = parse(SOURCE.map_columns(frame))
    assert parsed["row_is_valid"].tolist() == [True, False, True, False]
    assert "text is '  ', not filled" in parsed["row_problem"][1]
    assert "intent is 'Not An Intent!', not a lower-case" in parsed["row_problem"][3]
    rows = to_rows(parsed[parsed["row_is_valid"]])
    assert rows["entity_value"].tolist() == ["536365", None]
    assert rows["start_offset"].isna().tolist() == [False, True]
    assert rows["text"][1] == "cancel purchase 3707955617"


def test_generated_messages_cover_every_intent_and_mark_their_invoice() -> None:
    frame = make_messages(120, seed=3, end_date=date(2011, 12, 10))
    assert set(frame["intent"]) == set(INTENTS)
    spans = frame.dropna(subset=["entity_value"])
    assert len(spans) > 10
    for row in spans.itertuples():
        assert row.instruction[row.start_offset : row.end_offset] == row.entity_value
    assert make_messages(120, seed=3, end_date=date(2011, 12, 10)).equals(frame)
    assert parse(SOURCE.map_columns(frame))["row_is_valid"].all()


def test_personal_data_is_masked_and_the_entity_span_follows_the_text() -> None:
    frame = pd.DataFrame(
        {
            "instruction": ["mail jane@example.com about order 536365", "card 4111 1111 1111 1111"],
            "intent": ["track_order", "payment_issue"],
            "category": ["ORDER", "PAYMENT"],
            "entity_type": ["order_id", "card"],
            "entity_value": ["536365", "4111 1111 1111 1111"],
            "start_offset": [34, 5],
            "end_offset": [40, 24],
            "response": ["We wrote to jane@example.com", None],
        }
    )
    rows = to_rows(parse(SOURCE.map_columns(frame)))
    assert rows["text"].tolist() == ["mail [email] about order 536365", "card [card]"]
    first = rows.iloc[0]
    assert first["text"][int(first["start_offset"]) : int(first["end_offset"])] == "536365"
    assert rows["response"][0] == "We wrote to [email]"
    # the span that was itself the card number goes, with its value; the message stays
    assert rows["start_offset"].isna().tolist() == [False, True]
    assert rows["entity_value"][1] is None
