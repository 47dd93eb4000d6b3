"""The sessions source: browsing sessions in the UCI Online Shoppers layout, into ``raw.sessions``.

One row per session: page counts and seconds spent per page kind (administrative,
informational, product related), Google Analytics bounce and exit rates and page values, the
closeness to a special day, the month, category codes of operating system, browser, region and
traffic type, the visitor type, a weekend flag and ``Revenue`` (the session bought). Columns are
stored under the UCI names; snake_case spellings (``product_related_duration``) are aliases.

The UCI file has neither a session id nor a time. Two optional columns carry them when an
export has them: ``session_id`` and ``session_start``. Where ``session_id`` is missing, the
staging model derives it from the batch and the row's position in the file
(``<batch_id>-<source_row>``, stable because a batch id is the file's content hash); where
``session_start`` is missing, only ``Month`` (no year, no day) places the session in time.

Bad rows do not sink a good file: :func:`parse` flags every value (``ok_<column>``) and writes
each row's reasons into ``row_problem``; landing loads the good rows and keeps the bad ones in
``quarantine/rows-<batch_id>/rejected_rows.csv`` with their reason, unless more than
``expectations.sessions.MAX_BAD_SHARE`` of the rows are bad (then the file is rejected whole).
Suites: ``expectations.sessions``; staging: ``dbt_project/models/staging/stg_sessions.sql``.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from expectations import sessions as suites
from expectations.raw_gate import Suite
from expectations.row_rules import mark_rows
from warehouse.sources import Column, Source

COUNTS = ("Administrative", "Informational", "ProductRelated")
DURATIONS = ("Administrative_Duration", "Informational_Duration", "ProductRelated_Duration")
RATES = ("BounceRates", "ExitRates", "SpecialDay")
CODES = ("OperatingSystems", "Browser", "Region", "TrafficType")
BOOLEANS = ("Weekend", "Revenue")
VISITOR_TYPES = ("Returning_Visitor", "New_Visitor", "Other")

#: Month spellings accepted -> the stored 3-letter name (the UCI file writes ``June``).
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS = {
    **{m.lower(): m for m in MONTH_NAMES},
    "january": "Jan",
    "february": "Feb",
    "march": "Mar",
    "april": "Apr",
    "june": "Jun",
    "july": "Jul",
    "august": "Aug",
    "sept": "Sep",
    "september": "Sep",
    "october": "Oct",
    "november": "Nov",
    "december": "Dec",
}
#: The optional start time's rule (not in the suite's RULES: its check is the parse flag).
START_RULE = suites.RowRule("session_start", "a date and time (ISO 8601)")
_TRUE = {"true", "1", "t", "yes"}
_FALSE = {"false", "0", "f", "no"}

COLUMNS = (
    Column("Administrative", "BIGINT", description="administrative pages seen"),
    Column("Administrative_Duration", "DOUBLE", description="seconds on administrative pages"),
    Column("Informational", "BIGINT", description="informational pages seen"),
    Column("Informational_Duration", "DOUBLE", description="seconds on informational pages"),
    Column("ProductRelated", "BIGINT", description="product pages seen"),
    Column("ProductRelated_Duration", "DOUBLE", description="seconds on product pages"),
    Column("BounceRates", "DOUBLE", description="mean bounce rate of the pages seen"),
    Column("ExitRates", "DOUBLE", description="mean exit rate of the pages seen"),
    Column("PageValues", "DOUBLE", description="mean page value of the pages seen"),
    Column("SpecialDay", "DOUBLE", description="closeness to a special day, 0..1"),
    Column("Month", "VARCHAR", description="month of the session (3-letter name)"),
    Column("OperatingSystems", "BIGINT", ("OperatingSystem",), description="OS code"),
    Column("Browser", "BIGINT", description="browser code"),
    Column("Region", "BIGINT", description="region code"),
    Column("TrafficType", "BIGINT", description="traffic source code"),
    Column("VisitorType", "VARCHAR", description="Returning_Visitor, New_Visitor or Other"),
    Column("Weekend", "BOOLEAN", description="the session fell on a weekend"),
    Column("Revenue", "BOOLEAN", ("Purchased",), description="the session ended in a purchase"),
    Column("session_id", "VARCHAR", ("SessionID",), required=False, description="if exported"),
    Column("session_start", "TIMESTAMP", ("SessionStart",), required=False, description="start"),
    Column("source_row", "BIGINT", required=False, description="data row in the file (added)"),
)

REQUIRED_COLUMNS = [c.name for c in COLUMNS if c.required]
OPTIONAL_COLUMNS = ("session_id", "session_start")

#: Columns :func:`parse` adds; everything else in a frame was delivered.
HELPER_COLUMNS = (
    *(f"value_{c}" for c in REQUIRED_COLUMNS),
    *(f"ok_{c}" for c in REQUIRED_COLUMNS),
    "value_session_start",
    "ok_session_start",
    "row_problem",
    "row_is_valid",
)


def _numbers(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values, errors="coerce").astype("float64")


def _whole(x: pd.Series, minimum: float) -> pd.Series:
    return x.notna() & np.isfinite(x) & (x == x.round()) & (x >= minimum)


def _between(x: pd.Series, low: float, high: float | None = None) -> pd.Series:
    ok = x.notna() & np.isfinite(x) & (x >= low)
    return ok & (x <= high) if high is not None else ok


def parse_booleans(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values):
        return values.astype(object)
    text = values.astype("string").str.strip().str.lower()
    out = pd.Series(None, index=values.index, dtype=object)
    out[text.isin(_TRUE).fillna(False)] = True
    out[text.isin(_FALSE).fillna(False)] = False
    return out


def parse(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` plus a typed value and an ok flag per column, and each row's problems.

    ``ok_<column>`` is False where the value is missing or breaks its rule (see
    ``expectations.sessions.RULES``); ``row_problem`` joins the broken rules of a row (None for
    a good row). Works on CSV read as text and on typed Parquet alike.
    """
    out = frame.copy()
    for column in COUNTS + DURATIONS + RATES + ("PageValues",) + CODES:
        if column not in out.columns:
            continue
        x = _numbers(out[column])
        if column in COUNTS:
            ok = _whole(x, 0)
        elif column in CODES:
            ok = _whole(x, 1)
        elif column in RATES:
            ok = _between(x, 0.0, 1.0)
        else:
            ok = _between(x, 0.0)
        out[f"value_{column}"] = x.where(ok)
        out[f"ok_{column}"] = ok.astype(bool)
    if "Month" in out.columns:
        month = out["Month"].astype("string").str.strip().str.lower().map(MONTHS)
        out["value_Month"] = month.astype(object)
        out["ok_Month"] = month.notna().astype(bool)
    if "VisitorType" in out.columns:
        visitor = out["VisitorType"].astype("string").str.strip()
        ok = visitor.isin(VISITOR_TYPES).fillna(False).astype(bool)
        out["value_VisitorType"] = visitor.where(ok).astype(object)
        out["ok_VisitorType"] = ok
    for column in BOOLEANS:
        if column in out.columns:
            flag = parse_booleans(out[column])
            out[f"value_{column}"] = flag
            out[f"ok_{column}"] = flag.notna().astype(bool)
    if "session_start" in out.columns:
        start = pd.to_datetime(out["session_start"], errors="coerce", format="ISO8601")
        if getattr(start.dt, "tz", None) is not None:
            start = start.dt.tz_convert("UTC").dt.tz_localize(None)
        out["value_session_start"] = start.astype("datetime64[us]")
        out["ok_session_start"] = (start.notna() | out["session_start"].isna()).astype(bool)
    return mark_rows(out, [*suites.RULES, START_RULE])


def to_rows(parsed: pd.DataFrame) -> pd.DataFrame:
    """The good rows in ``raw.sessions`` types (landing has already set the bad ones aside)."""
    rows = pd.DataFrame(index=parsed.index)
    for column in REQUIRED_COLUMNS:
        values = parsed[f"value_{column}"]
        kind = next(c.type for c in COLUMNS if c.name == column)
        if kind == "BIGINT":
            rows[column] = values.astype("int64")
        elif kind == "DOUBLE":
            rows[column] = values.astype("float64")
        elif kind == "BOOLEAN":
            rows[column] = values.astype(bool)
        else:
            rows[column] = values.astype(object)
    if "session_id" in parsed.columns:
        ids = parsed["session_id"].astype("string").str.strip()
        rows["session_id"] = ids.where(ids.notna() & (ids != ""), None).astype(object)
    else:
        rows["session_id"] = None
    if "value_session_start" in parsed.columns:
        rows["session_start"] = parsed["value_session_start"]
    else:
        rows["session_start"] = pd.Series(pd.NaT, index=parsed.index, dtype="datetime64[us]")
    # the frame is in file order: index i is data row i + 1 (the derived session id uses it)
    rows["source_row"] = (parsed.index.to_numpy() + 1).astype("int64")
    return rows.reset_index(drop=True)


def _suites(delivered: list[str], now: datetime | None) -> list[Suite]:
    show = [c for c in REQUIRED_COLUMNS if c in delivered]
    return [
        Suite(
            "raw_sessions_schema",
            suites.schema_suite(delivered, REQUIRED_COLUMNS, list(OPTIONAL_COLUMNS)),
            delivered_only=True,
        ),
        Suite("raw_sessions", suites.value_expectations(show)),
    ]


SOURCE = Source(
    name="sessions",
    table="sessions",
    columns=COLUMNS,
    staging_model="stg_sessions",
    parse=parse,
    helper_columns=HELPER_COLUMNS,
    to_rows=to_rows,
    suites=_suites,
    description="browsing sessions (UCI Online Shoppers layout): the session intent family",
    reason_column="row_problem",
)
