"""The support source: customer-service messages labelled with their intent, into
``raw.support_messages``.

One row per message a customer wrote to the shop's support: the text, the intent a person (or
the export) gave it, the intent's category, and optionally one entity span (its type, its
normalised value, and its character offsets in the text), the message's id, its customer, when
it was sent and the conversation it belongs to. Columns are stored under our names; the
Bitext customer-support export (``instruction``, ``intent``, ``category``, ``entity_type``,
``entity_value``, ``start_offset``, ``end_offset``, ``tags``, ``response``) is recognised as
delivered. Its ``context`` and ``role`` columns are constants and ignored (a warning).

The Bitext file has no message id and no time: where ``message_id`` is missing the staging
model derives it from the batch and the row's position (``<batch_id>-<source_row>``, stable
because a batch id is the file's content hash).

An entity span whose offsets fall outside its text (99 rows of the Bitext file, where the value
was truncated) is dropped with a warning; the message itself loads.

Rows are judged one by one like sessions: :func:`parse` flags each rule (``ok_<rule>``) and
writes each row's reasons into ``row_problem``; landing loads the good rows and keeps the bad
ones in ``quarantine/rows-<batch_id>/`` with the reason. Suites: ``expectations.support``;
staging: ``dbt_project/models/staging/stg_support_messages.sql``; mart: ``support_messages``,
the intent family's training data.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from expectations import support as suites
from expectations.raw_gate import Suite
from expectations.row_rules import mark_rows
from mercato.pii import mask_free_text
from warehouse.sources import Column, Source
from warehouse.sources.orders import customer_ids

COLUMNS = (
    Column("text", "VARCHAR", ("instruction", "message", "utterance"), description="message"),
    Column("intent", "VARCHAR", ("label",), description="the message's intent (snake_case)"),
    Column("category", "VARCHAR", ("intent_category",), description="the intent's category"),
    Column("message_id", "VARCHAR", ("id", "MessageID"), required=False, description="if any"),
    Column("customer_id", "VARCHAR", ("CustomerID",), required=False, description="the writer"),
    Column("conversation_id", "VARCHAR", required=False, description="thread the message is in"),
    Column("sent_at", "TIMESTAMP", ("timestamp", "created_at"), required=False, description="when"),
    Column("entity_type", "VARCHAR", required=False, description="e.g. order_id, invoice_id"),
    Column("entity_value", "VARCHAR", required=False, description="the entity, normalised"),
    Column("start_offset", "BIGINT", required=False, description="entity start in the text"),
    Column("end_offset", "BIGINT", required=False, description="entity end (exclusive)"),
    Column("tags", "VARCHAR", required=False, description="linguistic-variation codes"),
    Column("response", "VARCHAR", required=False, description="an example agent reply"),
    Column("source_row", "BIGINT", required=False, description="data row in the file (added)"),
)
REQUIRED_COLUMNS = [c.name for c in COLUMNS if c.required]
OPTIONAL_COLUMNS = [c.name for c in COLUMNS if not c.required and c.name != "source_row"]
TEXT_COLUMNS = (
    "message_id",
    "conversation_id",
    "entity_type",
    "entity_value",
    "tags",
    "response",
)
HELPER_COLUMNS = (
    *(f"ok_{r.column}" for r in suites.RULES),
    f"ok_{suites.ENTITY_RULE.column}",
    "value_text",
    "value_intent",
    "value_category",
    "value_customer_id",
    "value_sent_at",
    "value_start_offset",
    "value_end_offset",
    "row_problem",
    "row_is_valid",
)
_INTENT = re.compile(r"^[a-z][a-z0-9_]*$")
_DAMAGED = r"[\ufffd\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


def _text(values: pd.Series) -> pd.Series:
    """Stripped text (bytes decoded as UTF-8 with U+FFFD where they are not); blank -> None."""
    if values.dtype == object:
        values = values.map(
            lambda v: v.decode("utf-8", errors="replace") if isinstance(v, bytes) else v
        )
    text = values.astype("string").str.strip()
    return text.where(text.notna() & (text != ""), None).astype(object)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def parse(frame: pd.DataFrame, now: datetime | None = None) -> pd.DataFrame:
    """``frame`` plus typed values, a flag per rule and each row's problems (None: good)."""
    out = frame.copy()
    latest = (now or datetime.now()) + timedelta(days=1)
    text = _text(_column(out, "text")).astype("string")
    length = text.str.len()
    damaged = text.str.contains(_DAMAGED, regex=True, na=False)
    ok_text = text.notna() & ~damaged & (length <= suites.MAX_TEXT_CHARS)
    out["ok_text"] = ok_text.fillna(False).astype(bool)

    intent = _text(_column(out, "intent")).astype("string").str.lower()
    ok_intent = intent.fillna("").str.match(_INTENT.pattern)
    out["value_intent"] = intent.where(ok_intent).astype(object)
    out["ok_intent"] = ok_intent.astype(bool)
    category = _text(_column(out, "category")).astype("string").str.upper()
    out["value_category"] = category.astype(object)
    out["ok_category"] = category.notna().astype(bool)

    out["value_customer_id"] = customer_ids(_column(out, "customer_id"))
    start = pd.to_numeric(_column(out, "start_offset"), errors="coerce")
    end = pd.to_numeric(_column(out, "end_offset"), errors="coerce")
    given = start.notna() | end.notna()
    inside = (
        start.notna()
        & end.notna()
        & (start == start.round())
        & (end == end.round())
        & (start >= 0)
        & (start < end)
        & (end <= length.fillna(0).astype("float64"))
    )
    inside = inside | ~given
    # Personal data is masked before anything stores the text; a span the masking moved is
    # found again in the masked text (or dropped when it was itself the personal data).
    masked = text.map(mask_free_text, na_action="ignore").astype("string")
    start, end = start.copy(), end.copy()
    for i in np.flatnonzero((masked != text).fillna(False).to_numpy() & given.to_numpy()):
        if not inside.iloc[i]:
            continue
        span = mask_free_text(text.iloc[i][int(start.iloc[i]) : int(end.iloc[i])])
        at = masked.iloc[i].find(span)
        if at < 0 or span != text.iloc[i][int(start.iloc[i]) : int(end.iloc[i])]:
            inside.iloc[i] = False
        else:
            start.iloc[i], end.iloc[i] = at, at + len(span)
    out["value_text"] = masked.where(ok_text).astype(object)
    out["value_start_offset"] = start.where(inside)
    out["value_end_offset"] = end.where(inside)
    out["ok_entity"] = inside.astype(bool)

    delivered_at = _column(out, "sent_at")
    sent = pd.to_datetime(delivered_at, errors="coerce", format="ISO8601")
    if getattr(sent.dt, "tz", None) is not None:
        sent = sent.dt.tz_convert("UTC").dt.tz_localize(None)
    out["value_sent_at"] = sent.astype("datetime64[us]")
    blank = _text(delivered_at.astype(object)).isna()
    out["ok_sent_at"] = (blank | (sent.notna() & (sent <= latest))).astype(bool)

    return mark_rows(out, suites.RULES)


def to_rows(parsed: pd.DataFrame) -> pd.DataFrame:
    """The good rows in ``raw.support_messages`` types (landing has set the bad ones aside)."""
    rows = pd.DataFrame(
        {
            "text": parsed["value_text"].astype(object),
            "intent": parsed["value_intent"].astype(object),
            "category": parsed["value_category"].astype(object),
        },
        index=parsed.index,
    )
    for column in TEXT_COLUMNS[:2]:
        rows[column] = _text(_column(parsed, column))
    rows["customer_id"] = parsed["value_customer_id"].astype(object)
    rows["sent_at"] = parsed["value_sent_at"]
    for column in TEXT_COLUMNS[2:4]:
        rows[column] = _text(_column(parsed, column))
    rows["entity_value"] = rows["entity_value"].map(mask_free_text, na_action="ignore")
    # a span outside its text is dropped whole: its offsets, type and value
    kept = parsed["ok_entity"].astype(bool)
    for column in TEXT_COLUMNS[2:4]:
        rows[column] = rows[column].where(kept, None)
    rows["start_offset"] = parsed["value_start_offset"].astype("Int64")
    rows["end_offset"] = parsed["value_end_offset"].astype("Int64")
    for column in TEXT_COLUMNS[4:]:
        rows[column] = _text(_column(parsed, column)).map(mask_free_text, na_action="ignore")
    # the frame is in file order: index i is data row i + 1 (the derived message id uses it)
    rows["source_row"] = (parsed.index.to_numpy() + 1).astype("int64")
    return rows[[c.name for c in COLUMNS]].reset_index(drop=True)


def _suites(delivered: list[str], now: datetime | None) -> list[Suite]:
    show = [c for c in ("text", "intent", "category") if c in delivered]
    return [
        Suite(
            "raw_support_messages_schema",
            suites.schema_suite(delivered, REQUIRED_COLUMNS, OPTIONAL_COLUMNS),
            delivered_only=True,
        ),
        Suite("raw_support_messages", suites.value_expectations(show)),
    ]


SOURCE = Source(
    name="support",
    table="support_messages",
    columns=COLUMNS,
    staging_model="stg_support_messages",
    parse=parse,
    helper_columns=HELPER_COLUMNS,
    to_rows=to_rows,
    suites=_suites,
    description="customer-service messages labelled with their intent: the intent family",
    reason_column="row_problem",
)
