"""The reviews source: product reviews (rating and text), into ``raw.reviews``.

One module owns the source's schema and parsing. Required: ``review_id``, ``product_id``,
``rating`` (1-5 stars) and ``text``; optional: ``customer_id``, ``title``, ``created_at`` and
the product's ``category``, ``department`` and ``division``, whether the reviewer
``recommended`` it and how many ``helpful_votes`` the review got.

Aliases cover the Women's E-Commerce Clothing Reviews export as published (``Clothing ID``,
``Review Text``, ``Rating``, ``Title``, ``Class Name``, ``Department Name``, ``Division Name``,
``Recommended IND``, ``Positive Feedback Count``) and common spellings of other exports
(``asin``/``overall``/``reviewText``, ``star_rating``/``review_body``, ``review_score``...).
That file has **no review id**: its first, unnamed column (the row number of the published
file, 0 to 23,485; ``Unnamed: 0`` once pandas has read it) is taken as ``review_id``. It is
unique and stable within that file; two different files numbered from 0 would collide, so
other exports should send a real id. Its ``Age`` column is personal data: it is reduced to the
reviewer's age band (``mercato.bands``: ``<25``, ``25-34``, ..., ``65+``) while parsing, so the
age itself is never stored, and the band is what the fairness report per age band reads. Any
other schema is mapped with ``column_map.json`` in the data
folder, e.g. ``{"id": "review_id", "sku": "product_id", "stars": "rating", "body": "text",
"written": "created_at"}``.

**Bad rows are set aside, not the batch.** :func:`parse` adds typed columns, one flag per row
check (``True``/``False``, ``None`` where a check does not apply) and ``reject_reason``: every
reason a row fails, in words (``"text is empty or whitespace only; rating '7' is not a whole
number from 1 to 5"``). The suites in ``expectations.reviews`` report each row check as a
warning with example rows and their data-row numbers, and reject the batch whole only when the
schema is wrong or more than half its rows fail. :func:`to_rows` then loads *every* row into
``raw.reviews`` (raw keeps what was delivered) with ``source_row`` (its data row in the file)
and ``reject_reason``; ``stg_reviews`` carries the flag, the marts read only valid rows, and
``review_rejects`` lists the set-aside rows with their reasons for a person to fix and resend.
Values that could not be typed are stored as null (the reason quotes the delivered value).

**Free text is masked before anything stores it.** :func:`parse` replaces e-mail addresses,
phone numbers and card-like numbers in ``text`` and ``title`` by ``[email]``, ``[phone]`` and
``[card]`` (``mercato.pii.mask_free_text``), so raw, the marts, the quarantined rows and every
model see the masked text only; the archived file keeps the delivery byte for byte.

A CSV that is not UTF-8 is still refused whole by landing before this gate (the byte and line
are named); the UTF-8 row check catches what a typed file (Parquet) can carry: undecodable
bytes, lone surrogates, U+FFFD replacement characters and control characters.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from expectations import reviews as suites
from expectations.raw_gate import Suite
from mercato.bands import UNKNOWN, bands_of
from mercato.names import CUSTOMER_ID_TRAILING_ZEROS
from mercato.pii import mask_free_text
from warehouse.sources import Column, Source

MAX_TEXT_CHARS = suites.MAX_TEXT_CHARS

COLUMNS = (
    # -- delivered: required
    Column(
        "review_id",
        "VARCHAR",
        ("Review ID", "ReviewID", "review_key", "Unnamed: 0", ""),
        description="the review's id (the clothing file's unnamed row-number column serves)",
    ),
    Column(
        "product_id",
        "VARCHAR",
        ("Clothing ID", "Product ID", "item_id", "asin", "StockCode"),
        description="the product reviewed",
    ),
    Column(
        "rating",
        "BIGINT",
        ("Rating", "overall", "star_rating", "review_score"),
        description="stars, 1 to 5",
    ),
    Column(
        "text",
        "VARCHAR",
        ("Review Text", "review_text", "reviewText", "review_body", "review_comment_message"),
        description="what the customer wrote",
    ),
    # -- delivered: optional
    Column(
        "customer_id",
        "VARCHAR",
        ("Customer ID", "CustomerID", "reviewerID", "user_id"),
        required=False,
        description="the reviewer, when the shop knows them (integer text)",
    ),
    Column(
        "title",
        "VARCHAR",
        ("Title", "Review Title", "summary", "review_headline", "review_comment_title"),
        required=False,
        description="the review's headline",
    ),
    Column(
        "created_at",
        "TIMESTAMP",
        ("Date", "review_date", "reviewTime", "review_creation_date", "Review Date"),
        required=False,
        description="when the review was written (the clothing file has none)",
    ),
    Column(
        "category",
        "VARCHAR",
        ("Class Name", "product_category", "Category"),
        required=False,
        description="the product's category (the clothing file's class: Dresses, Knits...)",
    ),
    Column(
        "department",
        "VARCHAR",
        ("Department Name",),
        required=False,
        description="the product's department (Tops, Dresses, Bottoms...)",
    ),
    Column(
        "division",
        "VARCHAR",
        ("Division Name",),
        required=False,
        description="the product's division (General, General Petite, Intimates)",
    ),
    Column(
        "recommended",
        "BOOLEAN",
        ("Recommended IND", "would_recommend"),
        required=False,
        description="whether the reviewer recommends the product",
    ),
    Column(
        "helpful_votes",
        "BIGINT",
        ("Positive Feedback Count", "helpful_count"),
        required=False,
        description="how many readers found the review helpful",
    ),
    Column(
        "age_band",
        "VARCHAR",
        ("Age", "reviewer_age", "Reviewer Age", "age_group"),
        required=False,
        description="the reviewer's age band (a delivered age is reduced to its band: <25, "
        "25-34, ..., 65+, or unknown)",
    ),
    # -- set by the gate, never delivered (a delivered column of these names is overwritten)
    Column(
        "source_row",
        "BIGINT",
        required=False,
        description="the row's data-row number in the delivered file (header excluded)",
    ),
    Column(
        "reject_reason",
        "VARCHAR",
        required=False,
        description="why the row was set aside (null: the row is valid)",
    ),
)

#: The columns a file may deliver, and the ones it must.
GATE_COLUMNS = ("source_row", "reject_reason")
DELIVERED_COLUMNS = [c.name for c in COLUMNS if c.name not in GATE_COLUMNS]
REQUIRED_COLUMNS = [c.name for c in COLUMNS if c.required]
_OPTIONAL_TEXT = ("customer_id", "title", "category", "department", "division")

#: Columns :func:`parse` adds; the row-check flags are listed in ``expectations.reviews``.
HELPER_COLUMNS = (
    "review_id_text",
    "product_id_text",
    "customer_id_text",
    "rating_value",
    "text_value",
    "text_preview",
    "title_value",
    "created_at_value",
    "recommended_value",
    "helpful_votes_value",
    "age_band_value",
    *(flag for flag, _, _ in suites.ROW_CHECKS),
    "row_is_valid",
)

#: What the reports show of a failing row.
SHOW = ["review_id", "product_id", "rating", "text_preview", "reject_reason"]

_DAMAGED = r"[\ufffd\ud800-\udfff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


def parse(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` plus typed columns, one flag per row check and ``reject_reason``.

    Works for CSV read as text and for typed Parquet alike; blank text counts as missing. The
    delivered columns are left as they came (the schema suite reads them).
    """
    out = frame.copy()
    n = len(out)
    out["review_id_text"] = _ids(_column(out, "review_id"))
    out["product_id_text"] = _ids(_column(out, "product_id"))
    out["customer_id_text"] = _ids(_column(out, "customer_id"))

    rating = _column(out, "rating")
    number = pd.to_numeric(rating, errors="coerce").astype("float64")
    low, high = suites.RATING_RANGE
    whole = number.notna() & (number == number.round()) & number.between(low, high)
    out["rating_value"] = number.where(whole)

    raw_text, undecodable = _text(_column(out, "text"))
    # Personal data never gets past parsing: every later copy (raw, marts, quarantine) is masked.
    raw_text = _masked(raw_text)
    if "text" in out.columns:
        out["text"] = _objects(raw_text)
    filled = raw_text.notna() & (raw_text.str.strip() != "")
    text = raw_text.where(filled)
    out["text_value"] = _objects(text)
    out["text_preview"] = _objects(text.str.slice(0, 80))
    damaged = undecodable | text.str.contains(_DAMAGED, regex=True, na=False)
    length = text.str.len()
    title, _ = _text(_column(out, "title"))
    title = _masked(title)
    if "title" in out.columns:
        out["title"] = _objects(title)
    out["title_value"] = _objects(title.where(title.str.strip() != ""))

    delivered_at = _column(out, "created_at")
    created = _dates(delivered_at)
    latest = pd.Timestamp(datetime.now() + timedelta(days=1))
    dated = created.notna() & (created <= latest)
    out["created_at_value"] = created.where(dated)
    out["recommended_value"] = _booleans(_column(out, "recommended"))
    votes = pd.to_numeric(_column(out, "helpful_votes"), errors="coerce")
    out["helpful_votes_value"] = votes.where(
        votes.notna() & (votes == votes.round()) & (votes >= 0)
    )
    # An age is reduced to its band before anything stores the row (raw, quarantine, marts).
    band = pd.Series(bands_of(_column(out, "age_band")), index=out.index, dtype=object)
    out["age_band_value"] = band.where(band != UNKNOWN, None)
    if "age_band" in out.columns:
        out["age_band"] = out["age_band_value"]

    key = pd.DataFrame(
        {
            "product": out["product_id_text"],
            "rating": out["rating_value"],
            "text": text.str.strip().str.lower(),
        }
    )
    repeated_id = out["review_id_text"].notna() & out["review_id_text"].duplicated()
    repeated_review = filled & key.duplicated()
    duplicate = repeated_id | repeated_review
    first_row = _first_rows(out["review_id_text"], key, duplicate, repeated_id)

    flags = {
        "has_review_id": _always(out["review_id_text"].notna()),
        "has_product_id": _always(out["product_id_text"].notna()),
        "rating_is_valid": _always(whole),
        "text_is_filled": _always(filled),
        "text_is_utf8": _where(filled, ~damaged),
        "text_within_limit": _where(filled, length <= MAX_TEXT_CHARS),
        "created_at_is_valid": _where(delivered_at.notna(), dated),
        "is_not_duplicate": _always(~duplicate),
    }
    for flag, values in flags.items():
        out[flag] = values
    reasons = [
        (~flags["has_review_id"].astype(bool), pd.Series("review_id is missing", index=out.index)),
        (
            ~flags["has_product_id"].astype(bool),
            pd.Series("product_id is missing", index=out.index),
        ),
        (
            ~whole,
            "rating " + _quoted(rating) + f" is not a whole number from {low} to {high}",
        ),
        (~filled, pd.Series("text is empty or whitespace only", index=out.index)),
        (
            filled & damaged,
            pd.Series(
                "text is not valid UTF-8 (undecodable bytes, U+FFFD or control characters)",
                index=out.index,
            ),
        ),
        (
            filled & (length > MAX_TEXT_CHARS),
            "text is "
            + length.astype("Int64").astype("string")
            + f" characters, over the limit of {MAX_TEXT_CHARS:,}",
        ),
        (
            delivered_at.notna() & ~dated,
            "created_at "
            + _quoted(delivered_at)
            + np.where(created.isna(), " is not a date", " is in the future"),
        ),
        (duplicate, "duplicate of data row " + first_row.astype("string")),
    ]
    out["reject_reason"] = _join_reasons(out.index, reasons)
    out["row_is_valid"] = out["reject_reason"].isna()
    out["source_row"] = np.arange(1, n + 1, dtype="int64")
    return out


def _masked(text: pd.Series) -> pd.Series:
    """Free text with e-mail addresses, phone and card-like numbers masked (``mercato.pii``)."""
    return text.map(lambda v: mask_free_text(v) if isinstance(v, str) else v).astype("string")


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A delivered column, or all-missing when the file does not have it."""
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _ids(values: pd.Series) -> pd.Series:
    """Ids as stripped text; ``17850.0`` (a float export) -> ``17850``; blank -> None."""
    text, _ = _text(values)
    text = text.str.strip().str.replace(CUSTOMER_ID_TRAILING_ZEROS, "", regex=True)
    return _objects(text.where(text != ""))


def _text(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(values as a string Series, mask of values that were bytes and not valid UTF-8).

    Bytes (a Parquet binary column) are decoded as UTF-8, with U+FFFD where they are not.
    """
    undecodable = np.zeros(len(values), dtype=bool)
    if values.dtype == object and values.map(lambda v: isinstance(v, bytes)).any():
        decoded = []
        for i, value in enumerate(values):
            if isinstance(value, bytes):
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError:
                    value = value.decode("utf-8", errors="replace")
                    undecodable[i] = True
            decoded.append(value)
        values = pd.Series(decoded, index=values.index, dtype=object)
    text = values.astype("string")
    return text, pd.Series(undecodable, index=values.index)


def _dates(values: pd.Series) -> pd.Series:
    """Timestamps (naive UTC) from ISO text, other common layouts, or a typed column."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values)
        if parsed.dt.tz is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        return parsed.astype("datetime64[us]")
    text = values.astype("string").str.strip()
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
    rest = text.notna() & parsed.isna()
    if rest.any():
        parsed[rest] = pd.to_datetime(text[rest], format="mixed", errors="coerce", utc=True)
    return parsed.dt.tz_localize(None).astype("datetime64[us]")


def _booleans(values: pd.Series) -> pd.Series:
    """1/0, true/false, yes/no -> True/False; anything else (or nothing) -> None."""
    text = values.astype("string").str.strip().str.lower().str.replace(r"\.0+$", "", regex=True)
    out = pd.Series([None] * len(values), index=values.index, dtype=object)
    out[text.isin(_TRUE).fillna(False).to_numpy(bool)] = True
    out[text.isin(_FALSE).fillna(False).to_numpy(bool)] = False
    return out


def _always(ok: pd.Series) -> pd.Series:
    """A flag that applies to every row."""
    return pd.Series(ok.to_numpy(dtype=bool), index=ok.index, dtype=object)


def _where(applies: pd.Series, ok: pd.Series) -> pd.Series:
    """True/False where the check applies, None elsewhere (reported once, by another check)."""
    values = np.where(applies.to_numpy(bool), ok.fillna(False).to_numpy(bool), None)
    return pd.Series(values, index=applies.index, dtype=object)


def _quoted(values: pd.Series) -> pd.Series:
    """Delivered values as they read in a message: ``'7'``, ``'five'``, or ``missing``."""
    text = values.astype("string").str.slice(0, 40)
    return ("'" + text + "'").fillna("missing").astype(str)


def _first_rows(
    ids: pd.Series, key: pd.DataFrame, duplicate: pd.Series, repeated_id: pd.Series
) -> pd.Series:
    """For each duplicate row, the data-row number of the first row it repeats."""
    rows = pd.Series(np.arange(1, len(ids) + 1), index=ids.index)
    by_id = rows.groupby(ids.fillna("\x00missing"), sort=False).transform("first")
    grouping = [key[c].astype("string").fillna("\x00") for c in key.columns]
    by_review = rows.groupby(grouping, sort=False).transform("first")
    first = by_id.where(repeated_id, by_review)
    return first.where(duplicate, 0).astype("int64")


def _join_reasons(index: pd.Index, reasons: list[tuple[pd.Series, pd.Series]]) -> pd.Series:
    """Every reason of a row joined with ``"; "``; None for a row with none."""
    joined = pd.Series("", index=index, dtype="string")
    for mask, message in reasons:
        mask = pd.Series(np.asarray(mask, dtype=bool), index=index)
        message = pd.Series(message, index=index).astype("string")
        glue = np.where(joined == "", "", "; ")
        joined = joined.where(~mask, joined + glue + message)
    return _objects(joined.where(joined != ""))


def _objects(text: pd.Series) -> pd.Series:
    """A string Series as Python objects, ``None`` where missing (what DuckDB loads as null)."""
    return text.astype(object).where(text.notna(), None)


def _storable(values: pd.Series) -> pd.Series:
    """Text DuckDB can store: lone surrogates and NUL become U+FFFD (the row is flagged)."""
    return _objects(
        values.astype("string").str.replace(r"[\ud800-\udfff\x00]", "\ufffd", regex=True)
    )


def to_rows(parsed: pd.DataFrame) -> pd.DataFrame:
    """Every row of the batch in ``raw.reviews`` types, valid or set aside with its reason.

    Typed values where they parsed, null where they did not; texts as delivered (only bytes
    DuckDB cannot hold are replaced, on rows that are flagged for it).
    """
    raw_text, _ = _text(_column(parsed, "text"))
    optional = {
        name: _storable(_column(parsed, f"{name}_value" if name == "title" else name))
        for name in _OPTIONAL_TEXT
    }
    optional["customer_id"] = parsed["customer_id_text"]
    return pd.DataFrame(
        {
            "review_id": parsed["review_id_text"],
            "product_id": parsed["product_id_text"],
            "rating": parsed["rating_value"].astype("Int64"),
            "text": _storable(raw_text),
            **optional,
            "created_at": parsed["created_at_value"].astype("datetime64[us]"),
            "recommended": parsed["recommended_value"].astype("boolean"),
            "helpful_votes": parsed["helpful_votes_value"].astype("Int64"),
            "age_band": parsed["age_band_value"],
            "source_row": parsed["source_row"].astype("int64"),
            "reject_reason": parsed["reject_reason"],
        }
    )[[c.name for c in COLUMNS]]


def _suites(delivered: list[str], now: datetime | None) -> list[Suite]:
    return [
        Suite(
            "raw_reviews_schema",
            suites.schema_expectations(delivered, REQUIRED_COLUMNS, DELIVERED_COLUMNS),
            delivered_only=True,
        ),
        Suite("raw_reviews", suites.value_expectations(SHOW, now)),
    ]


SOURCE = Source(
    name="reviews",
    table="reviews",
    columns=COLUMNS,
    staging_model="stg_reviews",
    parse=parse,
    helper_columns=HELPER_COLUMNS,
    to_rows=to_rows,
    suites=_suites,
    description="product reviews (rating and text): the source of the sentiment family",
)
