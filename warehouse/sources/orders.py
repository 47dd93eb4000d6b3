"""The orders source: order lines in the UCI Online Retail schema, into ``raw.order_lines``.

One module owns the source's schema and parsing. Columns are stored under the UCI names
(``InvoiceNo``, ``StockCode``...); the Online Retail II names (``Invoice``, ``Price``,
``Customer ID``) are aliases, and any other schema is mapped with a ``column_map.json``.

Values are checked as delivered *and* as parsed: :func:`parse` adds typed columns
(``quantity_value``, ``unit_price_value``, ``invoiced_at``, ``customer_id_text``) and flags that
say whether each delivered value parsed (``None`` where nothing was delivered, so a missing value
is reported once, by the not-null check, and not again as unparseable). The suites that read
them are in ``expectations.orders``; the dbt model that cleans the table is
``dbt_project/models/staging/stg_order_lines.sql``.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from expectations import orders as suites
from expectations.raw_gate import Suite
from mercato.names import CUSTOMER_ID_TRAILING_ZEROS
from warehouse.sources import Column, Source

COLUMNS = (
    Column("InvoiceNo", "VARCHAR", ("Invoice", "InvoiceNumber"), description="invoice number"),
    Column("StockCode", "VARCHAR", description="product code"),
    Column("Description", "VARCHAR", description="product description"),
    Column("Quantity", "BIGINT", description="units; negative on cancellations"),
    Column("InvoiceDate", "TIMESTAMP", description="when the invoice was issued"),
    Column("UnitPrice", "DOUBLE", ("Price",), description="price per unit"),
    Column("CustomerID", "VARCHAR", ("Customer ID",), description="customer (integer text)"),
    Column("Country", "VARCHAR", description="the customer's country"),
)

#: The columns of a batch, in the UCI Online Retail names used by ``raw.order_lines``.
REQUIRED_COLUMNS = [c.name for c in COLUMNS]

#: Columns :func:`parse` adds; everything else in a frame was delivered.
HELPER_COLUMNS = (
    "quantity_value",
    "quantity_is_integer",
    "unit_price_value",
    "unit_price_is_number",
    "unit_price_of_sales",
    "invoiced_at",
    "invoice_date_is_timestamp",
    "customer_id_text",
    "row_fingerprint",
)

#: Timestamp layouts tried in turn; the one that parses most values wins.
DATE_FORMATS = [
    "ISO8601",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
]


def parse(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` plus typed columns and parse flags (the delivered columns untouched).

    Works for CSV read as text and for typed Parquet alike. Blank text counts as missing.
    """
    out = frame.copy()
    for column in ("InvoiceNo", "StockCode", "Description", "CustomerID", "Country"):
        if column in out.columns and not pd.api.types.is_numeric_dtype(out[column]):
            text = out[column].astype("string").str.strip()
            out[column] = out[column].where(text.notna() & (text != ""), None)
    if "Quantity" in out.columns:
        quantity = pd.to_numeric(out["Quantity"], errors="coerce")
        whole = quantity.notna() & np.isfinite(quantity) & (quantity == quantity.round())
        out["quantity_value"] = quantity.where(whole)
        out["quantity_is_integer"] = _flag(out["Quantity"], whole)
    if "UnitPrice" in out.columns:
        price = pd.to_numeric(out["UnitPrice"], errors="coerce")
        finite = price.notna() & np.isfinite(price)
        out["unit_price_value"] = price.where(finite)
        out["unit_price_is_number"] = _flag(out["UnitPrice"], finite)
        if "InvoiceNo" in out.columns:
            adjustment = out["InvoiceNo"].astype("string").str.upper().str.startswith("A")
            out["unit_price_of_sales"] = out["unit_price_value"].where(~adjustment.fillna(False))
    if "InvoiceDate" in out.columns:
        parsed = _parse_dates(out["InvoiceDate"])
        out["invoiced_at"] = parsed
        out["invoice_date_is_timestamp"] = _flag(out["InvoiceDate"], parsed.notna())
    if "CustomerID" in out.columns:
        out["customer_id_text"] = customer_ids(out["CustomerID"])
    present = [c for c in REQUIRED_COLUMNS if c in out.columns]
    if present:
        out["row_fingerprint"] = pd.util.hash_pandas_object(
            out[present].astype("string"), index=False
        ).astype("int64")
    return out


def _flag(delivered: pd.Series, ok: pd.Series) -> pd.Series:
    """True/False where a value was delivered, None where it was missing."""
    return pd.Series(np.where(delivered.isna(), None, ok.to_numpy()), index=delivered.index)


def _parse_dates(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values)
        if parsed.dt.tz is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        return parsed.astype("datetime64[us]")
    text = values.astype("string").str.strip()
    best = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us]")
    best_count = -1
    wanted = int(text.notna().sum())
    sample = text.dropna().head(2000)
    for fmt in DATE_FORMATS:
        # a quick look at a sample first: full parses of 500k strings are not free
        if len(sample) and pd.to_datetime(sample, format=fmt, errors="coerce").notna().sum() == 0:
            continue
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        count = int(parsed.notna().sum())
        if count > best_count:
            best, best_count = parsed.astype("datetime64[us]"), count
        if count == wanted:
            break
    return best


def customer_ids(values: pd.Series) -> pd.Series:
    """Customer ids as integer text (``mercato.names.customer_id_text``, vectorised)."""
    text = values.astype("string").str.strip()
    text = text.str.replace(CUSTOMER_ID_TRAILING_ZEROS, "", regex=True)
    return text.where(text.notna() & (text != ""), None).astype(object)


def to_rows(parsed: pd.DataFrame) -> pd.DataFrame:
    """The batch in ``raw.order_lines`` types (validated values only, as delivered otherwise)."""

    def text(column: str) -> pd.Series:
        values = parsed[column]
        return values.where(values.isna(), values.astype(str)).astype(object)

    return pd.DataFrame(
        {
            "InvoiceNo": text("InvoiceNo"),
            "StockCode": text("StockCode"),
            "Description": text("Description"),
            "Quantity": parsed["quantity_value"].astype("int64"),
            "InvoiceDate": parsed["invoiced_at"],
            "UnitPrice": parsed["unit_price_value"].astype("float64"),
            "CustomerID": parsed["customer_id_text"],
            "Country": text("Country"),
        }
    )


def _suites(delivered: list[str], now: datetime | None) -> list[Suite]:
    return [
        Suite(
            "raw_order_lines_schema",
            suites.schema_expectations(delivered, REQUIRED_COLUMNS),
            delivered_only=True,
        ),
        Suite("raw_order_lines", suites.value_expectations(REQUIRED_COLUMNS, now)),
    ]


SOURCE = Source(
    name="orders",
    table="order_lines",
    columns=COLUMNS,
    staging_model="stg_order_lines",
    parse=parse,
    helper_columns=HELPER_COLUMNS,
    to_rows=to_rows,
    suites=_suites,
    description="order lines (UCI Online Retail schema): the source of every current family",
    chunkable=True,
)
