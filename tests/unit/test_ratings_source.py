"""The ratings source: recognised by MovieLens' and a shop's column names, every value flagged,
each bad row's reason, Unix and ISO times alike; the generator; telling stars from quantities."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from fixed_dates import END_DATE

from models.recommendation import normalize_interactions, rating_mode
from warehouse.sources import recognise
from warehouse.sources.ratings import SOURCE, parse, to_rows
from warehouse.synthetic_ratings import generate_ratings, write_ratings

NOW = datetime(2026, 11, 28)


def test_movielens_and_shop_spellings_are_the_ratings_source_and_other_files_keep_theirs() -> None:
    assert recognise(["userId", "movieId", "rating", "timestamp"]).name == "ratings"
    assert recognise(["customer_id", "StockCode", "stars", "rated_at"]).name == "ratings"
    uci = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice"]
    assert recognise([*uci, "CustomerID", "Country"]).name == "orders"
    assert recognise(["review_id", "product_id", "rating", "text"]).name == "reviews"


def test_unix_seconds_and_iso_times_parse_to_the_same_utc_instant() -> None:
    frame = SOURCE.map_columns(
        pd.DataFrame(
            {
                "userId": ["1", "1", "2"],
                "movieId": ["31", "1029", "31"],
                "rating": ["2.5", "3.0", "4.5"],
                "timestamp": ["1260759144", "2009-12-14T02:52:24Z", "2009-12-14 03:52:24+01:00"],
            }
        )
    )
    parsed = parse(frame, now=NOW)
    assert parsed["row_problem"].isna().all(), parsed["row_problem"].tolist()
    rows = to_rows(parsed)
    assert rows["timestamp"].tolist() == [pd.Timestamp("2009-12-14 02:52:24")] * 3
    assert rows["rating"].tolist() == [2.5, 3.0, 4.5]
    assert rows["user_id"].tolist() == ["1", "1", "2"]


def test_each_bad_row_names_its_reasons_and_good_rows_are_untouched() -> None:
    frame = pd.DataFrame(
        {
            "user_id": ["7", None, "7", "8", "9.0"],
            "item_id": ["A", "B", "", "C", "D"],
            "rating": ["4", "3", "5", "4.3", "0.5"],
            "timestamp": ["2026-01-01", "2026-01-01", "2026-01-01", "2030-01-01", "1700000000"],
        }
    )
    parsed = parse(frame, now=NOW)
    problems = parsed[SOURCE.reason_column].tolist()
    assert problems[0] is None and problems[4] is None
    assert problems[1] == "user_id is empty, not a user id"
    assert problems[2] == "item_id is empty, not an item id"
    assert "rating is '4.3', not a number of stars from 0.5 to 5 in half steps" in problems[3]
    assert "timestamp is '2030-01-01', not a time" in problems[3]
    assert to_rows(parsed[parsed["row_is_valid"]])["user_id"].tolist() == ["7", "9"]


def test_the_generator_is_fixed_by_its_arguments_and_on_the_sources_scale(tmp_path) -> None:
    a = write_ratings(tmp_path / "a.csv", end_date=END_DATE, n_users=40, seed=3)
    b = write_ratings(tmp_path / "b.csv", end_date=END_DATE, n_users=40, seed=3)
    assert a.read_bytes() == b.read_bytes()
    frame = generate_ratings(end_date=END_DATE, n_users=40, seed=3)
    assert parse(frame, now=NOW)["row_is_valid"].all()
    assert not frame.duplicated(["user_id", "item_id"]).any()
    end = pd.Timestamp(END_DATE).timestamp()
    assert frame["timestamp"].max() < end


def test_stars_are_told_from_quantities_and_from_a_constant() -> None:
    stars = normalize_interactions(generate_ratings(end_date=END_DATE, n_users=20))
    assert rating_mode(stars)
    quantities = stars.assign(rating=[float(1 + i % 12) for i in range(len(stars))])
    assert not rating_mode(quantities)
    assert not rating_mode(stars.assign(rating=1.0))
