"""The raw gate: GX checks on one delivered batch before any of it enters the warehouse.

Two suites run in order. ``raw_order_lines_schema`` checks the shape (every required column,
at least one row); if it fails, value checks would be meaningless and are skipped.
``raw_order_lines`` checks the values: non-null keys, numbers that parse, timestamps that parse
and are not in the future, no negative prices outside bad-debt adjustments, sane ranges, known
countries and the duplicate rate.

Values are checked as delivered *and* as parsed: :func:`parse_columns` adds typed columns
(``quantity_value``, ``unit_price_value``, ``invoiced_at``, ``customer_id_text``) and flags that
say whether each delivered value parsed (``None`` where nothing was delivered, so a missing value
is reported once, by the not-null check, and not again as unparseable).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from expectations import CheckResult, GateFailed, GateResult
from mercato.settings import Settings

#: The columns of a batch, in the UCI Online Retail names used by ``raw.order_lines``.
REQUIRED_COLUMNS = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]

#: Columns :func:`parse_columns` adds; everything else in a frame was delivered.
HELPER_COLUMNS = [
    "quantity_value",
    "quantity_is_integer",
    "unit_price_value",
    "unit_price_is_number",
    "unit_price_of_sales",
    "invoiced_at",
    "invoice_date_is_timestamp",
    "customer_id_text",
    "row_fingerprint",
]

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

EARLIEST_DATE = datetime(2000, 1, 1)
MAX_ABS_QUANTITY = 100_000
MAX_UNIT_PRICE = 100_000.0

#: Country names as UCI exports spell them (``EIRE``, ``RSA``, ``USA``...) plus common English
#: names. An unknown country is a warning, never a rejection.
KNOWN_COUNTRIES = frozenset(
    """
    United Kingdom|EIRE|Ireland|Channel Islands|European Community|Unspecified|RSA|USA|
    United States|United Arab Emirates|Hong Kong|Czech Republic|Saudi Arabia|
    Germany|France|Spain|Netherlands|Belgium|Switzerland|Portugal|Australia|Norway|Italy|
    Finland|Cyprus|Sweden|Austria|Denmark|Japan|Poland|Israel|Singapore|Iceland|Canada|Greece|
    Malta|Lebanon|Lithuania|Brazil|Bahrain|Korea|South Korea|Thailand|West Indies|Nigeria|
    Luxembourg|Latvia|Estonia|Slovenia|Slovakia|Croatia|Hungary|Romania|Bulgaria|Serbia|
    Turkey|Ukraine|Russia|Belarus|Moldova|Georgia|Armenia|Azerbaijan|Kazakhstan|China|
    Taiwan|India|Pakistan|Bangladesh|Sri Lanka|Nepal|Indonesia|Malaysia|Philippines|Vietnam|
    New Zealand|Mexico|Argentina|Chile|Colombia|Peru|Uruguay|Venezuela|Ecuador|Bolivia|
    Paraguay|South Africa|Egypt|Morocco|Tunisia|Algeria|Kenya|Ghana|Qatar|Kuwait|Oman|
    Jordan|Iran|Iraq|Isle of Man|Jersey|Guernsey|Gibraltar|Monaco|Liechtenstein|Andorra|
    San Marino|Bermuda|Jamaica|Barbados|Trinidad and Tobago|Bahamas|Cayman Islands|
    Bosnia and Herzegovina|North Macedonia|Albania|Montenegro|Kosovo|Czechia|Scotland|
    England|Wales|Northern Ireland
    """.replace("\n", "")
    .replace("    ", "")
    .split("|")
)


# -- parsing ------------------------------------------------------------------------------------


def parse_columns(frame: pd.DataFrame) -> pd.DataFrame:
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
        out["customer_id_text"] = _customer_ids(out["CustomerID"])
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


def _customer_ids(values: pd.Series) -> pd.Series:
    """Customer ids as integer text: ``17850.0`` (a float because of NaNs) becomes ``17850``."""
    text = values.astype("string").str.strip()
    text = text.str.replace(r"\.0+$", "", regex=True)
    return text.where(text.notna() & (text != ""), None).astype(object)


# -- suites -------------------------------------------------------------------------------------


def schema_expectations(columns: list[str]) -> list[Any]:
    """Shape checks: every required column present (critical), nothing extra (warning)."""
    import great_expectations as gx

    unknown = [c for c in columns if c not in REQUIRED_COLUMNS]
    hint = f"; the file has unrecognised columns {unknown}" if unknown else ""
    checks: list[Any] = [
        gx.expectations.ExpectColumnToExist(
            column=column,
            description=f"column {column} is present",
            meta={
                "explain": f"required column {column} is missing{hint} (map other names with "
                "column_map.json in the data folder)"
            },
        )
        for column in REQUIRED_COLUMNS
    ]
    checks += [
        gx.expectations.ExpectTableColumnsToMatchSet(
            column_set=REQUIRED_COLUMNS,
            exact_match=True,
            severity="warning",
            description="no unexpected columns",
            meta={"explain": f"unexpected columns {unknown} are ignored"},
        ),
        gx.expectations.ExpectTableRowCountToBeBetween(
            min_value=1,
            description="batch has rows",
            meta={"explain": "the batch has no data rows"},
        ),
    ]
    return checks


def value_expectations(now: datetime | None = None) -> list[Any]:
    """Value checks on one batch; ``critical`` ones reject it, ``warning`` ones are reported."""
    import great_expectations as gx

    e = gx.expectations
    latest = (now or datetime.now()) + timedelta(days=1)
    row = {"show": REQUIRED_COLUMNS}
    checks: list[Any] = []
    for column in ("InvoiceNo", "StockCode", "InvoiceDate", "Quantity", "UnitPrice"):
        checks.append(
            e.ExpectColumnValuesToNotBeNull(
                column=column,
                description=f"{column} is never empty",
                meta={**row, "explain": f"{column} is a key and must be filled on every line"},
            )
        )
    checks += [
        e.ExpectColumnValuesToBeInSet(
            column="quantity_is_integer",
            value_set=[True],
            description="Quantity is a whole number",
            meta={
                **row,
                "example_column": "Quantity",
                "explain": "Quantity must be an integer count",
            },
        ),
        e.ExpectColumnValuesToBeInSet(
            column="unit_price_is_number",
            value_set=[True],
            description="UnitPrice is a number",
            meta={
                **row,
                "example_column": "UnitPrice",
                "explain": "UnitPrice must be numeric (plain decimal, no currency)",
            },
        ),
        e.ExpectColumnValuesToBeInSet(
            column="invoice_date_is_timestamp",
            value_set=[True],
            description="InvoiceDate is a timestamp",
            meta={
                **row,
                "example_column": "InvoiceDate",
                "explain": "InvoiceDate must parse as a date and time",
            },
        ),
        e.ExpectColumnValuesToBeBetween(
            column="invoiced_at",
            min_value=EARLIEST_DATE,
            max_value=latest,
            description="InvoiceDate is not in the future",
            meta={
                **row,
                "explain": f"InvoiceDate must lie between {EARLIEST_DATE:%Y-%m-%d} and "
                f"{latest:%Y-%m-%d %H:%M} (today plus one day)",
            },
        ),
        e.ExpectColumnValuesToBeBetween(
            column="unit_price_of_sales",
            min_value=0,
            description="UnitPrice is not negative",
            meta={
                **row,
                "explain": "negative prices are only allowed on bad-debt adjustments "
                "(invoices starting with A)",
            },
        ),
        e.ExpectColumnValuesToBeUnique(
            column="row_fingerprint",
            mostly=0.8,
            description="duplicate rate below 20%",
            meta={**row, "explain": "more than 20% of lines are exact copies of another line"},
        ),
        # -- warnings: reported, never blocking
        e.ExpectColumnValuesToBeUnique(
            column="row_fingerprint",
            mostly=0.97,
            severity="warning",
            description="duplicate rate below 3%",
            meta={**row, "explain": "more than 3% of lines are exact copies (they are dropped)"},
        ),
        e.ExpectColumnValuesToBeInSet(
            column="Country",
            value_set=sorted(KNOWN_COUNTRIES),
            severity="warning",
            description="Country is a known country",
            meta={**row, "explain": "unknown country names (kept as delivered)"},
        ),
        e.ExpectColumnValuesToNotBeNull(
            column="Country",
            severity="warning",
            description="Country is filled",
            meta={**row, "explain": "lines without a country"},
        ),
        e.ExpectColumnValuesToBeBetween(
            column="quantity_value",
            min_value=-MAX_ABS_QUANTITY,
            max_value=MAX_ABS_QUANTITY,
            severity="warning",
            description=f"|Quantity| at most {MAX_ABS_QUANTITY:,}",
            meta={**row, "explain": "implausibly large quantities"},
        ),
        e.ExpectColumnValuesToBeBetween(
            column="unit_price_value",
            max_value=MAX_UNIT_PRICE,
            severity="warning",
            description=f"UnitPrice at most {MAX_UNIT_PRICE:,.0f}",
            meta={**row, "explain": "implausibly high prices"},
        ),
        e.ExpectColumnValuesToNotBeNull(
            column="Description",
            mostly=0.99,
            severity="warning",
            description="Description filled on 99% of lines",
            meta={**row, "explain": "many lines have no description"},
        ),
        e.ExpectColumnValuesToNotBeNull(
            column="CustomerID",
            mostly=0.5,
            severity="warning",
            description="CustomerID filled on half the lines",
            meta={**row, "explain": "most lines have no customer (they cannot reach the marts)"},
        ),
    ]
    return checks


# -- the gate -----------------------------------------------------------------------------------


def validate_batch(
    df: pd.DataFrame,
    settings: Settings,
    batch_id: str,
    raise_on_failure: bool = False,
    now: datetime | None = None,
) -> GateResult:
    """Validate one batch (columns already in the UCI names) and return every check's outcome.

    ``df`` may be as read or already passed through :func:`parse_columns`. With
    ``raise_on_failure`` a critical failure raises :class:`GateFailed`; otherwise the caller
    (``mercato.landing``) quarantines the batch first and raises itself.
    """
    from expectations.context import data_docs_index, get_context, run_suite

    delivered = [c for c in df.columns if c not in HELPER_COLUMNS]
    frame = df if "row_fingerprint" in df.columns else parse_columns(df)
    context = get_context(settings)
    checks = run_suite(
        settings,
        context,
        "raw_order_lines_schema",
        schema_expectations(delivered),
        frame[delivered],
        row_numbers=True,
    )
    if all(c.success for c in checks if c.severity == "critical"):
        checks += run_suite(
            settings,
            context,
            "raw_order_lines",
            value_expectations(now),
            frame,
            row_numbers=True,
        )
    result = GateResult(
        gate=f"raw batch {batch_id}",
        success=not any(not c.success and c.severity == "critical" for c in checks),
        checks=checks,
        rows=len(frame),
        data_docs=str(data_docs_index(settings)),
    )
    if raise_on_failure and not result.success:
        raise GateFailed(result.failure_message(), result)
    return result


def readable_failure(name: str, description: str, error: str) -> CheckResult:
    """A failed critical check for problems found before GX can run (an unreadable file)."""
    return CheckResult(
        name=name, severity="critical", success=False, description=description, error=error
    )
