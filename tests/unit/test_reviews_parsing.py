"""The reviews source: recognised by its columns, every row check able to fail, rows typed for
``raw.reviews``, and its dbt side declared (no GX, no warehouse: the gate's run is in
``tests/integration/data/test_reviews_source.py``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mercato.names import source_modules
from mercato.settings import Settings, get_settings
from warehouse.sources import recognise
from warehouse.sources.reviews import MAX_TEXT_CHARS, SOURCE, parse, to_rows

#: The clothing export's header as the CSV has it (first column unnamed) and as pandas reads it.
CLOTHING = ["", "Clothing ID", "Age", "Title", "Review Text", "Rating", "Recommended IND"]
CLOTHING += ["Positive Feedback Count", "Division Name", "Department Name", "Class Name"]


def with_reviews(settings: Settings) -> Settings:
    """``settings`` with the reviews source, whether it is built in yet or not."""
    if "reviews" in source_modules(settings):
        return settings
    extra = {**settings.extra_sources, "reviews": "warehouse.sources.reviews"}
    return dataclasses.replace(settings, extra_sources=extra)


def good(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "review_id": [f"r{i}" for i in range(n)],
            "product_id": ["p1", "p2"] * (n // 2),
            "rating": ["5", "1", "4", "2"][:n],
            "text": ["Love it", "Broke in a day", "Nice enough", "Too small"][:n],
        }
    )


def reasons(frame: pd.DataFrame) -> list[str | None]:
    return parse(SOURCE.map_columns(frame))["reject_reason"].tolist()


def test_the_clothing_export_is_recognised_as_reviews_under_its_own_names() -> None:
    settings = with_reviews(get_settings())
    assert recognise(CLOTHING, settings).name == "reviews"
    read = ["Unnamed: 0", *CLOTHING[1:]]
    renamed = SOURCE.map_columns(pd.DataFrame(columns=read))
    assert {"review_id", "product_id", "rating", "text", "title", "category"} <= set(renamed)
    assert "age_band" in renamed.columns and "Age" not in renamed.columns
    # orders are still orders, and a file of neither names both sources
    orders = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice"]
    assert recognise([*orders, "CustomerID", "Country"], settings).name == "orders"
    with pytest.raises(ValueError, match="reviews: review_id, product_id, rating, text"):
        recognise(["foo", "bar"], settings)


def test_a_file_without_the_review_columns_is_not_taken_for_reviews() -> None:
    """The toy ratings file (id, sku, stars, text) shares only ``text``: below the half needed."""
    assert SOURCE.match(["id", "sku", "stars", "text"]) == 0.25
    assert SOURCE.match(["review_id", "product_id", "rating", "text"]) == 1.0


def test_good_rows_have_no_reason_and_typed_values() -> None:
    parsed = parse(good())
    assert parsed["reject_reason"].isna().all()
    assert parsed["row_is_valid"].all()
    rows = to_rows(parsed)
    assert list(rows.columns) == SOURCE.column_names
    assert rows["rating"].tolist() == [5, 1, 4, 2]
    assert rows["source_row"].tolist() == [1, 2, 3, 4]
    assert rows["reject_reason"].isna().all()


@pytest.mark.parametrize(
    ("change", "reason", "flag"),
    [
        ({"review_id": None}, "review_id is missing", "has_review_id"),
        ({"product_id": "  "}, "product_id is missing", "has_product_id"),
        ({"rating": "7"}, "rating '7' is not a whole number from 1 to 5", "rating_is_valid"),
        ({"rating": "4.5"}, "rating '4.5' is not a whole number", "rating_is_valid"),
        ({"rating": "five"}, "rating 'five' is not a whole number", "rating_is_valid"),
        ({"rating": None}, "rating missing is not a whole number", "rating_is_valid"),
        ({"text": " \t "}, "text is empty or whitespace only", "text_is_filled"),
        ({"text": None}, "text is empty or whitespace only", "text_is_filled"),
        ({"text": "broken \ufffd text"}, "text is not valid UTF-8", "text_is_utf8"),
        ({"text": "nul\x00byte"}, "text is not valid UTF-8", "text_is_utf8"),
        ({"text": "x" * (MAX_TEXT_CHARS + 1)}, "over the limit of 10,000", "text_within_limit"),
    ],
)
def test_each_row_check_sets_its_row_aside_with_the_reason(
    change: dict, reason: str, flag: str
) -> None:
    frame = good()
    for column, value in change.items():
        frame[column] = frame[column].astype(object)
        frame.loc[1, column] = value
    parsed = parse(frame)
    assert parsed.loc[1, flag] is not None and not parsed.loc[1, flag]
    assert reason in parsed.loc[1, "reject_reason"]
    others = parsed.drop(index=1)
    assert others["reject_reason"].isna().all() and others[flag].isin([True, None]).all()


def test_dates_are_checked_only_where_delivered() -> None:
    frame = good().assign(created_at=["2024-01-02", "not a date", "2099-01-01", None])
    parsed = parse(frame)
    assert parsed["created_at_is_valid"].tolist() == [True, False, False, None]
    assert "created_at 'not a date' is not a date" in parsed.loc[1, "reject_reason"]
    assert "created_at '2099-01-01' is in the future" in parsed.loc[2, "reject_reason"]
    assert pd.isna(parsed.loc[3, "reject_reason"])
    assert to_rows(parsed)["created_at"].iloc[0] == pd.Timestamp("2024-01-02")


def test_duplicates_name_the_row_they_repeat() -> None:
    frame = pd.concat([good(), good().iloc[[0]], good().iloc[[1]].assign(review_id="new")])
    frame = frame.reset_index(drop=True)
    found = reasons(frame)
    assert found[:4] == [None] * 4
    assert found[4] == "duplicate of data row 1", "same review id"
    assert found[5] == "duplicate of data row 2", "same product, rating and text, other id"


def test_every_reason_of_a_row_is_listed() -> None:
    frame = good().astype(object)
    frame.loc[0, ["text", "rating"]] = [None, "0"]
    assert reasons(frame)[0] == (
        "rating '0' is not a whole number from 1 to 5; text is empty or whitespace only"
    )


def test_bytes_that_are_not_utf8_are_flagged_and_stored_replaced() -> None:
    frame = good().astype(object)
    frame.loc[2, "text"] = "café crème".encode("latin-1")
    frame.loc[3, "text"] = "café crème".encode()
    parsed = parse(frame)
    assert "not valid UTF-8" in parsed.loc[2, "reject_reason"]
    assert pd.isna(parsed.loc[3, "reject_reason"])
    rows = to_rows(parsed)
    assert rows.loc[3, "text"] == "café crème"
    assert "\ufffd" in rows.loc[2, "text"]


def test_ids_from_float_exports_and_optional_columns_are_typed() -> None:
    frame = good().assign(
        product_id=[767.0, 1080.0, 767.0, 1080.0],
        customer_id=["17850.0", None, "12", "x-1"],
        recommended=["1", "0", "yes", "maybe"],
        helpful_votes=["3", "0", "-1", "2.5"],
    )
    rows = to_rows(parse(frame))
    assert rows["product_id"].tolist() == ["767", "1080", "767", "1080"]
    assert rows["customer_id"].tolist()[:1] == ["17850"]
    assert rows["recommended"].tolist()[:3] == [True, False, True]
    assert pd.isna(rows["recommended"].iloc[3])
    assert rows["helpful_votes"].tolist()[:2] == [3, 0]
    assert rows["helpful_votes"].iloc[2:].isna().all()


def test_an_empty_batch_parses_to_nothing() -> None:
    parsed = parse(good().head(0))
    assert len(to_rows(parsed)) == 0


def test_the_raw_table_has_the_gate_columns_after_the_delivered_ones() -> None:
    ddl = SOURCE.ddl()
    assert '"rating" BIGINT' in ddl and '"created_at" TIMESTAMP' in ddl
    assert ddl.index('"helpful_votes"') < ddl.index('"reject_reason"') < ddl.index('"batch_id"')


def test_its_dbt_source_and_staging_model_are_declared() -> None:
    """What ``test_sources.py`` checks for sources of ``_sources.yml``, for this one's file."""
    staging = get_settings().dbt_project_dir / "models" / "staging"
    declared = yaml.safe_load((staging / "_reviews_sources.yml").read_text())
    (entry,) = declared["sources"]
    assert entry["schema"] == "raw" and [t["name"] for t in entry["tables"]] == [SOURCE.table]
    assert (staging / f"{SOURCE.staging_model}.sql").is_file()
    marts = Path(staging.parent / "marts")
    for mart in ("review_facts", "product_review_stats", "review_rejects"):
        assert (marts / f"{mart}.sql").is_file(), mart


def test_its_marts_have_suites_that_allow_them_to_be_empty() -> None:
    from expectations.marts import mart_suites

    suites = {s.table: s for s in mart_suites()}
    for mart in ("review_facts", "product_review_stats", "review_rejects"):
        assert suites[mart].may_be_empty, mart
    assert not suites["fct_order_lines"].may_be_empty


def test_a_delivered_age_is_kept_as_its_band_only() -> None:
    frame = good().assign(Age=["31", 67, None, "abc"])
    parsed = parse(SOURCE.map_columns(frame))
    assert parsed["age_band"].tolist() == ["25-34", "65+", None, None]
    rows = to_rows(parsed)
    assert rows["age_band"].tolist() == ["25-34", "65+", None, None]
    assert not rows.astype(str).isin(["31", "67"]).any().any()
    assert reasons(frame) == [None] * 4  # an unreadable age is no reason to set a review aside


def test_a_raw_table_of_an_earlier_version_gains_the_new_columns(tmp_path: Path) -> None:
    import duckdb

    path = str(tmp_path / "w.duckdb")
    with duckdb.connect(path) as con:
        con.execute("create schema raw; create table raw.reviews (review_id varchar)")
        con.execute("insert into raw.reviews values ('r0')")
        con.execute(SOURCE.ddl())
        columns = [r[0] for r in con.execute("describe raw.reviews").fetchall()]
        kept = con.execute("select review_id, age_band from raw.reviews").fetchall()
    assert {"age_band", "reject_reason", "batch_id"} <= set(columns)
    assert kept == [("r0", None)]
