"""The sessions source: recognised by its columns, every value flagged, each bad row's reason."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from fixed_dates import END_DATE

from warehouse.sources import recognise
from warehouse.sources.sessions import REQUIRED_COLUMNS, SOURCE, parse, to_rows
from warehouse.synthetic_sessions import make_sessions, write_sessions

GOOD = {
    "Administrative": "1",
    "Administrative_Duration": "12.5",
    "Informational": "0",
    "Informational_Duration": "0.0",
    "ProductRelated": "8",
    "ProductRelated_Duration": "300.25",
    "BounceRates": "0.01",
    "ExitRates": "0.03",
    "PageValues": "0.0",
    "SpecialDay": "0.4",
    "Month": "June",
    "OperatingSystems": "2",
    "Browser": "1",
    "Region": "3",
    "TrafficType": "2",
    "VisitorType": "Returning_Visitor",
    "Weekend": "FALSE",
    "Revenue": "TRUE",
}


def frame(*changes: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame([{**GOOD, **change} for change in changes])


def test_the_uci_header_and_its_snake_case_spelling_are_sessions() -> None:
    assert recognise(REQUIRED_COLUMNS).name == "sessions"
    snake = ["administrative", "administrative_duration", "informational",
             "informational_duration", "product_related", "product_related_duration",
             "bounce_rates", "exit_rates", "page_values", "special_day", "month",
             "operating_systems", "browser", "region", "traffic_type", "visitor_type",
             "weekend", "revenue"]  # fmt: skip
    assert recognise(snake).name == "sessions"
    renamed = SOURCE.map_columns(pd.DataFrame(columns=snake))
    assert list(renamed.columns) == REQUIRED_COLUMNS
    assert recognise(["InvoiceNo", "StockCode", "Quantity", "InvoiceDate"]).name == "orders"


def test_good_values_parse_to_their_types_and_june_is_stored_as_jun() -> None:
    parsed = parse(frame({}, {"Weekend": "true", "Revenue": "0", "Month": "nov"}))
    assert parsed["row_problem"].isna().all()
    rows = to_rows(parsed)
    assert rows["Month"].tolist() == ["Jun", "Nov"]
    assert rows["Weekend"].tolist() == [False, True]
    assert rows["Revenue"].tolist() == [True, False]
    assert rows["ProductRelated"].dtype == "int64"
    assert rows["source_row"].tolist() == [1, 2]
    assert rows["session_id"].isna().all()


def test_each_bad_row_carries_every_reason_and_good_rows_none() -> None:
    parsed = parse(
        frame(
            {},
            {"ExitRates": "1.7"},
            {"Administrative": "2.5", "Month": "Smarch"},
            {"ProductRelated_Duration": None, "VisitorType": "Robot"},
            {"Revenue": "maybe", "Browser": "0"},
        )
    )
    reasons = parsed["row_problem"].tolist()
    assert reasons[0] is None
    assert reasons[1] == "ExitRates is '1.7', not a rate between 0 and 1"
    assert "Administrative is '2.5', not a whole number" in reasons[2]
    assert "Month is 'Smarch', not a month name" in reasons[2]
    assert "ProductRelated_Duration is empty" in reasons[3]
    assert "VisitorType is 'Robot'" in reasons[3]
    assert "Revenue is 'maybe', not TRUE or FALSE" in reasons[4]
    assert "Browser is '0', not a category code" in reasons[4]
    assert parsed["row_is_valid"].tolist() == [True, False, False, False, False]


def test_a_delivered_session_id_and_start_are_kept_and_a_bad_start_is_a_reason() -> None:
    delivered = frame(
        {"session_id": " s-1 ", "session_start": "2026-03-01 10:00:00"},
        {"session_id": "s-2", "session_start": "yesterday"},
        {"session_id": "s-3", "session_start": None},
    )
    parsed = parse(delivered)
    assert parsed["row_problem"].tolist()[0] is None
    assert "session_start is 'yesterday'" in parsed["row_problem"].tolist()[1]
    assert parsed["row_problem"].tolist()[2] is None
    rows = to_rows(parsed[parsed["row_is_valid"]])
    assert rows["session_id"].tolist() == ["s-1", "s-3"]
    assert rows["session_start"].iloc[0] == pd.Timestamp("2026-03-01 10:00:00")
    assert pd.isna(rows["session_start"].iloc[1])
    assert rows["source_row"].tolist() == [1, 3]  # the file's data rows, not the loaded ones


def test_the_generator_is_fixed_by_its_arguments_and_ends_before_end_date(tmp_path) -> None:
    with pytest.raises(ValueError, match="end_date"):
        make_sessions(10, seed=1)
    a = write_sessions(tmp_path / "a.csv", 400, seed=5, end_date=END_DATE)
    b = write_sessions(tmp_path / "b.csv", 400, seed=5, end_date=END_DATE)
    assert a.read_bytes() == b.read_bytes()
    sessions = pd.read_csv(a, dtype=str, keep_default_na=False)
    starts = pd.to_datetime(sessions["session_start"])
    assert starts.max() < pd.Timestamp(END_DATE) and starts.min() >= pd.Timestamp(
        date(2025, 11, 28)
    )
    parsed = parse(sessions)
    assert parsed["row_problem"].isna().all(), parsed["row_problem"].dropna().head().tolist()
    assert set(sessions["Revenue"]) == {"TRUE", "FALSE"}
    assert 0.05 < (sessions["Revenue"] == "TRUE").mean() < 0.4
    assert "June" in set(sessions["Month"]) or "Jun" not in set(sessions["Month"])
