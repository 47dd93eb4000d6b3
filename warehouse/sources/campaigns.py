"""The campaigns source: who was sent what (or nothing), and what they did, into
``raw.campaign_exposures``.

One row per customer and campaign: the treatment arm the customer was randomised into (an
arm such as ``Mens E-Mail``, or the control: ``No E-Mail``, ``control``, ``none``,
``holdout``), when it was sent, the outcomes tracked after the send (visited, converted,
spend) and the customer's attributes at send time (recency in months, past-year spend and its
bin, bought men's / women's merchandise, zip-code type, new customer, purchase channel). The
columns are those of Kevin Hillstrom's MineThatData e-mail test, whose own spellings
(``segment``, ``visit``, ``conversion``) are aliases, so that file loads as delivered.

**Derived when not delivered** (the Hillstrom file has neither):

- ``campaign``: ``hillstrom`` for every row (:data:`DEFAULT_CAMPAIGN`);
- ``customer_id``: ``<campaign>-<row number in the file>`` (``hillstrom-1`` ...): stable for the
  same file, unique within it, and joining to no other source (that is the honest reading of
  a file without ids);
- ``sent_at`` stays empty: the mailing's date is not published.

Each derivation is reported as a warning of the gate. Bad rows do not sink a good file:
:func:`parse` flags every rule (``ok_<column>``, see ``expectations.campaigns.RULES``) and writes
each row's reasons into ``row_problem``; landing loads the good rows and keeps the bad ones in
``quarantine/rows-<batch_id>/rejected_rows.csv`` with their reason, unless more than
``expectations.campaigns.MAX_BAD_SHARE`` of the rows are bad (then the file is refused whole).
A customer who appears twice in one campaign has all of its rows kept out (which arm is right
cannot be told). Suites: ``expectations.campaigns``; the dbt staging model is
``dbt_project/models/staging/stg_campaign_exposures.sql``, which also names each arm
(``treatment``: ``mens_e_mail``) and flags the control.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from expectations import campaigns as suites
from expectations.raw_gate import Suite
from expectations.row_rules import mark_rows
from warehouse.sources import Column, Source
from warehouse.sources.orders import _parse_dates, customer_ids

EARLIEST = pd.Timestamp(suites.EARLIEST_DATE)

#: The campaign of a file without a campaign column (the MineThatData e-mail test's).
DEFAULT_CAMPAIGN = "hillstrom"

#: Arm names (compared in lower case, letters only) that mean "sent nothing".
CONTROL_ARMS = frozenset({"noemail", "nomail", "control", "none", "holdout", "nothing"})

COLUMNS = (
    Column("customer_id", "VARCHAR", ("CustomerID", "Customer ID", "customer"), required=False),
    Column("campaign", "VARCHAR", ("campaign_name", "campaign_id"), required=False),
    Column(
        "treatment_arm",
        "VARCHAR",
        ("segment", "arm", "treatment", "group"),
        description="the arm the customer was randomised into (or the control)",
    ),
    Column("sent_at", "TIMESTAMP", ("sent", "send_date", "sent_date"), required=False),
    Column("visited", "BIGINT", ("visit",), description="1 if the customer visited afterwards"),
    Column("converted", "BIGINT", ("conversion",), description="1 if the customer bought"),
    Column("spend", "DOUBLE", ("revenue_after",), description="spend after the send"),
    Column("recency", "BIGINT", ("recency_months",), required=False),
    Column("history_segment", "VARCHAR", required=False),
    Column("history", "DOUBLE", ("history_spend",), required=False),
    Column("mens", "BIGINT", required=False),
    Column("womens", "BIGINT", required=False),
    Column("zip_code", "VARCHAR", ("zip", "area"), required=False),
    Column("newbie", "BIGINT", ("is_new",), required=False),
    Column("channel", "VARCHAR", required=False),
)

REQUIRED_COLUMNS = [c.name for c in COLUMNS if c.required]
KNOWN_COLUMNS = [c.name for c in COLUMNS]
_TEXT = ("customer_id", "campaign", "treatment_arm", "history_segment", "zip_code", "channel")
_FLAGS = ("visited", "converted", "mens", "womens", "newbie")
_NUMBERS = ("spend", "recency", "history")
_TRUE = {"1", "1.0", "true", "t", "yes", "y"}
_FALSE = {"0", "0.0", "false", "f", "no", "n"}

HELPER_COLUMNS = (
    "customer_id_text",
    "campaign_text",
    "customer_key",
    "sent_at_value",
    *(f"{c}_value" for c in _FLAGS),
    *(f"{c}_value" for c in _NUMBERS),
    *(f"ok_{rule.column}" for rule in suites.RULES),
    "ok_once",
    "campaign_has_control",
    "conversion_has_visit",
    "spend_has_conversion",
    "row_problem",
    "row_is_valid",
)
#: Columns that must hold a value in every row (an optional column may be left empty).
_MUST_HAVE = ("visited", "converted", "spend")


def is_control(arm: object) -> bool:
    """Whether an arm's name means the control (``No E-Mail``, ``control``...)."""
    return "".join(ch for ch in str(arm).lower() if ch.isalpha()) in CONTROL_ARMS


def _flags(values: pd.Series) -> pd.Series:
    """0/1 values, NaN where a value is not 0/1 or true/false (or is missing)."""
    text = values.astype("string").str.strip().str.lower()
    value = pd.Series(np.nan, index=values.index)
    value[text.isin(_TRUE).fillna(False).to_numpy()] = 1.0
    value[text.isin(_FALSE).fillna(False).to_numpy()] = 0.0
    return value


def parse(frame: pd.DataFrame, now: datetime | None = None) -> pd.DataFrame:
    """Return ``frame`` plus typed columns, an ok flag per rule and each row's problems (the
    delivered columns untouched); ``now`` bounds the send time (tomorrow is the latest)."""
    out = frame.copy()
    latest = (now or datetime.now()) + timedelta(days=1)
    for column in _TEXT:
        if column in out.columns and not pd.api.types.is_numeric_dtype(out[column]):
            text = out[column].astype("string").str.strip()
            out[column] = out[column].where(text.notna() & (text != ""), None)
    if "campaign" in out.columns:
        campaign = out["campaign"].astype("string").str.strip()
        out["campaign_text"] = campaign.where(campaign.notna(), DEFAULT_CAMPAIGN).astype(object)
    else:
        out["campaign_text"] = DEFAULT_CAMPAIGN
    if "customer_id" in out.columns:
        out["customer_id_text"] = customer_ids(out["customer_id"])
    else:
        rows = pd.Series(np.arange(1, len(out) + 1), index=out.index).astype(str)
        out["customer_id_text"] = (out["campaign_text"].astype(str) + "-" + rows).astype(object)
    out["ok_customer_id"] = out["customer_id_text"].notna().astype(bool)
    out["customer_key"] = (
        out["campaign_text"].astype(str) + "\x1f" + out["customer_id_text"].astype(str)
    )
    if "treatment_arm" in out.columns:
        out["ok_treatment_arm"] = out["treatment_arm"].notna().astype(bool)
    if "sent_at" in out.columns:
        sent = _parse_dates(out["sent_at"])
        out["sent_at_value"] = sent
        in_range = sent.notna() & (sent >= EARLIEST) & (sent <= latest)
        out["ok_sent_at"] = (out["sent_at"].isna() | in_range).astype(bool)
    else:
        out["sent_at_value"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[us]")
    for column in _FLAGS:
        if column in out.columns:
            value = _flags(out[column])
            out[f"{column}_value"] = value
            out[f"ok_{column}"] = _ok(out[column], value.notna(), column)
    for column in _NUMBERS:
        if column in out.columns:
            number = pd.to_numeric(out[column], errors="coerce")
            finite = number.notna() & np.isfinite(number)
            out[f"{column}_value"] = number.where(finite)
            out[f"ok_{column}"] = _ok(out[column], finite & (number >= 0), column)
    if "treatment_arm" in out.columns:
        control = out["treatment_arm"].map(is_control, na_action="ignore").eq(True)
        has = control.groupby(out["campaign_text"]).transform("any")
        out["campaign_has_control"] = has.astype(bool)
    if {"visited_value", "converted_value"} <= set(out.columns):
        out["conversion_has_visit"] = ~((out["converted_value"] == 1) & (out["visited_value"] == 0))
    if {"spend_value", "converted_value"} <= set(out.columns):
        out["spend_has_conversion"] = ~((out["spend_value"] > 0) & (out["converted_value"] == 0))
    times = out.groupby("customer_key")["customer_key"].transform("size")
    out["ok_once"] = (times == 1).to_numpy()
    mark_rows(out, suites.RULES)
    twice = np.flatnonzero(~out["ok_once"].to_numpy(dtype=bool))
    for i in twice:
        seen = f"customer_id {out['customer_id_text'].iloc[i]!r} appears {times.iloc[i]} times "
        why = seen + f"in campaign {out['campaign_text'].iloc[i]!r}"
        before = out["row_problem"].iloc[i]
        out.iat[i, out.columns.get_loc("row_problem")] = f"{before}; {why}" if before else why
    out["row_is_valid"] = out["row_problem"].isna()
    return out


def _ok(delivered: pd.Series, ok: pd.Series, column: str) -> pd.Series:
    """A rule's flag: an empty value breaks it only in a column every row must fill."""
    if column in _MUST_HAVE:
        return ok.astype(bool)
    empty = delivered.isna() | (delivered.astype("string").str.strip() == "").fillna(True)
    return (empty | ok).astype(bool)


def to_rows(parsed: pd.DataFrame) -> pd.DataFrame:
    """The batch in ``raw.campaign_exposures`` types (validated values only)."""

    def text(column: str) -> pd.Series | None:
        if column not in parsed.columns:
            return None
        values = parsed[column]
        return values.where(values.isna(), values.astype(str)).astype(object)

    def number(column: str, kind: str) -> pd.Series | None:
        name = f"{column}_value"
        if name not in parsed.columns:
            return None
        values = parsed[name]
        return values.round().astype("Int64") if kind == "int" else values.astype("float64")

    return pd.DataFrame(
        {
            "customer_id": parsed["customer_id_text"],
            "campaign": parsed["campaign_text"].astype(str),
            "treatment_arm": text("treatment_arm"),
            "sent_at": parsed["sent_at_value"],
            "visited": number("visited", "int"),
            "converted": number("converted", "int"),
            "spend": number("spend", "float"),
            "recency": number("recency", "int"),
            "history_segment": text("history_segment"),
            "history": number("history", "float"),
            "mens": number("mens", "int"),
            "womens": number("womens", "int"),
            "zip_code": text("zip_code"),
            "newbie": number("newbie", "int"),
            "channel": text("channel"),
        },
        index=parsed.index,
    )


def _suites(delivered: list[str], now: datetime | None) -> list[Suite]:
    show = [c for c in KNOWN_COLUMNS if c in delivered] or list(delivered)
    return [
        Suite(
            "raw_campaign_exposures_schema",
            suites.schema_expectations(delivered, REQUIRED_COLUMNS, KNOWN_COLUMNS),
            delivered_only=True,
        ),
        Suite("raw_campaign_exposures", suites.value_expectations(show, delivered)),
    ]


SOURCE = Source(
    name="campaigns",
    table="campaign_exposures",
    columns=COLUMNS,
    staging_model="stg_campaign_exposures",
    parse=parse,
    helper_columns=HELPER_COLUMNS,
    to_rows=to_rows,
    suites=_suites,
    description="campaign sends and their outcomes (randomised arms and a control): uplift",
    reason_column="row_problem",
)
