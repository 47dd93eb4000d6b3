"""The Great Expectations suites of the reviews source, run on every batch before it loads.

Reviews are judged row by row, unlike order lines. One bad review (an empty text, a rating of
7, a duplicate) says nothing about its neighbours, so the good rows of a batch load and the bad
ones are set aside with their reason (``warehouse.sources.reviews``); what a user wants from a
review export with 845 empty texts is the other 22,641 reviews, not a rejected file. A batch is
still rejected whole when it is not a reviews file worth loading:

- ``raw_reviews_schema`` (critical): every required column, at least one row; unexpected
  columns are a warning (they are ignored);
- ``raw_reviews`` (critical): at most :data:`MAX_REJECTED_SHARE` of the rows fail a row check.
  More than that is a broken export (a wrong column map, ratings on another scale), not a few
  bad reviews, and loading the rest would hide it;
- ``raw_reviews`` (warnings, one per row check): each names how many rows fail, example rows
  and their data-row numbers in the file. Those rows are loaded flagged with the reason into
  ``raw.reviews`` and listed by the mart ``review_rejects``; no later layer reads them.

The checks read the parse flags that ``warehouse.sources.reviews.parse`` adds (``True``/
``False`` where a value was delivered, ``None`` where the check does not apply).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from expectations.raw_gate import schema_checks

#: Longest review text accepted, in characters. Real reviews run to a few thousand characters
#: (the clothing file's longest is 508); a longer one is almost always a paste or a whole file
#: in one cell after a quoting error.
MAX_TEXT_CHARS = 10_000
#: A batch in which more than this share of the rows fail a row check is rejected whole.
MAX_REJECTED_SHARE = 0.5
#: Ratings are stars: whole numbers in this range.
RATING_RANGE = (1, 5)

#: (parse flag, description, explanation) of every row check, in the order reasons are written.
ROW_CHECKS: tuple[tuple[str, str, str], ...] = (
    (
        "has_review_id",
        "review_id is filled",
        "every review needs an id (the clothing export's unnamed first column serves)",
    ),
    ("has_product_id", "product_id is filled", "a review must say which product it is about"),
    (
        "rating_is_valid",
        f"rating is a whole number from {RATING_RANGE[0]} to {RATING_RANGE[1]}",
        "ratings are stars; other values (missing, 0, 7, 4.5, 'five') cannot be labelled",
    ),
    (
        "text_is_filled",
        "text is not empty or whitespace only",
        "a review without text has nothing for the sentiment model to read",
    ),
    (
        "text_is_utf8",
        "text is valid UTF-8 text",
        "the text holds bytes that are not UTF-8, replacement characters (U+FFFD) or control "
        "characters: it was damaged by a wrong encoding before it reached us",
    ),
    (
        "text_within_limit",
        f"text is at most {MAX_TEXT_CHARS:,} characters",
        "a text this long is a paste or a quoting error, not a review",
    ),
    (
        "created_at_is_valid",
        "created_at is a date, not in the future",
        "created_at must parse as a date and lie before tomorrow (at ingest)",
    ),
    (
        "is_not_duplicate",
        "review is not a duplicate",
        "a review id, or the same product, rating and text, already appeared earlier in the "
        "file: the later copy is set aside",
    ),
)


def schema_expectations(delivered: list[str], required: list[str], known: list[str]) -> list[Any]:
    """Shape checks: every required column (critical), rows (critical), no unknown columns
    (warning: they are ignored)."""
    unknown = [c for c in delivered if c not in known]
    return schema_checks(required, unknown, column_set=[c for c in delivered if c in known])


def value_expectations(show: list[str], now: datetime | None = None) -> list[Any]:
    """The batch check (critical) and one row check per reason (warnings, rows set aside)."""
    import great_expectations as gx

    e = gx.expectations
    row = {"show": show}
    checks: list[Any] = [
        e.ExpectColumnValuesToBeInSet(
            column="row_is_valid",
            value_set=[True],
            mostly=1.0 - MAX_REJECTED_SHARE,
            description=f"at most {MAX_REJECTED_SHARE:.0%} of the rows fail a row check",
            meta={
                **row,
                "example_column": "reject_reason",
                "explain": "most rows of this file fail the row checks below: it looks like a "
                "broken export (a wrong column map, ratings on another scale), so none of it "
                "is loaded",
            },
        )
    ]
    for flag, description, explain in ROW_CHECKS:
        checks.append(
            e.ExpectColumnValuesToBeInSet(
                column=flag,
                value_set=[True],
                severity="warning",
                description=description,
                meta={
                    **row,
                    "example_column": "reject_reason",
                    "explain": f"{explain}; these rows are set aside (mart review_rejects)",
                },
            )
        )
    return checks
