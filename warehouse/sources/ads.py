"""The ad impressions source: one row per ad shown, with what followed, into ``raw.ad_impressions``.

Columns: the impression id and time, who saw it (a known ``customer_id`` or an
``anonymous_id``: a cookie or device id), the campaign and creative, the placement and the
device with other categorical context (``os``, ``country``), whether it was clicked and
converted, and what it cost. Rows are judged one by one like sessions: :func:`parse` flags each
rule (``ok_<rule>``) and writes each row's reasons into ``row_problem``; landing loads the good
rows and keeps the bad ones in ``quarantine/rows-<batch_id>/`` with the reason.
Suites: ``expectations.ads``; staging: ``dbt_project/models/staging/stg_ad_impressions.sql``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from expectations import ads as suites
from expectations.raw_gate import Suite
from expectations.row_rules import mark_rows
from warehouse.sources import Column, Source
from warehouse.sources.orders import customer_ids
from warehouse.sources.sessions import parse_booleans

TEXT = ("impression_id", "campaign", "creative", "placement", "device", "os", "country")

COLUMNS = (
    Column("impression_id", "VARCHAR", ("ImpressionID", "id"), description="impression id"),
    Column("shown_at", "TIMESTAMP", ("timestamp", "time"), description="when it was shown"),
    Column("customer_id", "VARCHAR", ("CustomerID",), description="known customer, or empty"),
    Column("anonymous_id", "VARCHAR", ("cookie_id", "user_id"), description="cookie or device"),
    Column("campaign", "VARCHAR", description="campaign name"),
    Column("creative", "VARCHAR", description="creative (ad variant) id"),
    Column("placement", "VARCHAR", description="where it was shown (site, slot)"),
    Column("device", "VARCHAR", description="desktop, mobile, tablet..."),
    Column("os", "VARCHAR", required=False, description="operating system"),
    Column("country", "VARCHAR", required=False, description="country of the viewer"),
    Column("clicked", "BOOLEAN", description="the impression was clicked"),
    Column("converted", "BOOLEAN", description="the click led to a purchase"),
    Column("cost", "DOUBLE", description="what the impression cost"),
)
REQUIRED_COLUMNS = [c.name for c in COLUMNS if c.required]
OPTIONAL_COLUMNS = [c.name for c in COLUMNS if not c.required]
HELPER_COLUMNS = (
    *(f"ok_{r.column}" for r in suites.RULES),
    "value_shown_at",
    "value_clicked",
    "value_converted",
    "value_cost",
    "value_customer_id",
    "row_problem",
    "row_is_valid",
)


def _text(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.where(text.notna() & (text != ""), None).astype(object)


def parse(frame: pd.DataFrame, now: datetime | None = None) -> pd.DataFrame:
    """``frame`` plus typed values, a flag per rule and each row's problems (None: good)."""
    out = frame.copy()
    latest = (now or datetime.now()) + timedelta(days=1)
    for column in TEXT:
        if column in out.columns:
            out[column] = _text(out[column])
    for column in ("impression_id", "campaign", "creative", "placement", "device"):
        if column in out.columns:
            out[f"ok_{column}"] = out[column].notna().astype(bool)
    if "shown_at" in out.columns:
        shown = pd.to_datetime(out["shown_at"], errors="coerce", format="ISO8601")
        if getattr(shown.dt, "tz", None) is not None:
            shown = shown.dt.tz_convert("UTC").dt.tz_localize(None)
        out["value_shown_at"] = shown.astype("datetime64[us]")
        out["ok_shown_at"] = (shown.notna() & (shown <= latest)).astype(bool)
    if "customer_id" in out.columns:
        out["value_customer_id"] = customer_ids(out["customer_id"])
    if {"customer_id", "anonymous_id"} & set(out.columns):
        known = out.get("value_customer_id", pd.Series(None, index=out.index)).notna()
        anonymous = out.get("anonymous_id", pd.Series(None, index=out.index)).notna()
        out["ok_user"] = (known | anonymous).astype(bool)
    for column in ("clicked", "converted"):
        if column in out.columns:
            out[f"value_{column}"] = parse_booleans(out[column])
            out[f"ok_{column}"] = out[f"value_{column}"].notna().astype(bool)
    if "converted" in out.columns and "clicked" in out.columns:
        after_click = ~(out["value_converted"].eq(True) & out["value_clicked"].eq(False))
        out["ok_converted"] = (out["ok_converted"] & after_click).astype(bool)
    if "cost" in out.columns:
        cost = pd.to_numeric(out["cost"], errors="coerce").astype("float64")
        ok = cost.notna() & np.isfinite(cost) & (cost >= 0)
        out["value_cost"] = cost.where(ok)
        out["ok_cost"] = ok.astype(bool)
    return mark_rows(out, suites.RULES)


def to_rows(parsed: pd.DataFrame) -> pd.DataFrame:
    """The good rows in ``raw.ad_impressions`` types."""

    def optional(column: str) -> pd.Series:
        return parsed[column] if column in parsed.columns else pd.Series(None, index=parsed.index)

    return pd.DataFrame(
        {
            "impression_id": parsed["impression_id"].astype(object),
            "shown_at": parsed["value_shown_at"],
            "customer_id": optional("value_customer_id").astype(object),
            "anonymous_id": _text(optional("anonymous_id")),
            "campaign": parsed["campaign"].astype(object),
            "creative": parsed["creative"].astype(object),
            "placement": parsed["placement"].astype(object),
            "device": parsed["device"].astype(object),
            "os": optional("os").astype(object),
            "country": optional("country").astype(object),
            "clicked": parsed["value_clicked"].astype(bool),
            "converted": parsed["value_converted"].astype(bool),
            "cost": parsed["value_cost"].astype("float64"),
        }
    ).reset_index(drop=True)


def _suites(delivered: list[str], now: datetime | None) -> list[Suite]:
    show = [c for c in REQUIRED_COLUMNS if c in delivered]
    return [
        Suite(
            "raw_ad_impressions_schema",
            suites.schema_suite(delivered, REQUIRED_COLUMNS, OPTIONAL_COLUMNS),
            delivered_only=True,
        ),
        Suite("raw_ad_impressions", suites.value_expectations(show)),
    ]


SOURCE = Source(
    name="ads",
    table="ad_impressions",
    columns=COLUMNS,
    staging_model="stg_ad_impressions",
    parse=parse,
    helper_columns=HELPER_COLUMNS,
    to_rows=to_rows,
    suites=_suites,
    description="ad impressions with clicks, conversions and cost: the ad response family",
    reason_column="row_problem",
)
