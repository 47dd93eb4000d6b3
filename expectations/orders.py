"""The Great Expectations suites of the orders source, run on every batch before it loads.

Two suites run in order. ``raw_order_lines_schema`` checks the shape (every required column,
at least one row); if it fails, value checks would be meaningless and are skipped.
``raw_order_lines`` checks the values: non-null keys, numbers that parse, timestamps that parse
and are not in the future, no negative prices outside bad-debt adjustments, sane ranges, known
countries and the duplicate rate. The value suite reads the typed helper columns that
``warehouse.sources.orders.parse`` adds (``quantity_is_integer``, ``invoiced_at``...).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from expectations.raw_gate import schema_checks

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


def schema_expectations(columns: list[str], required: list[str]) -> list[Any]:
    """Shape checks: every required column present (critical), nothing extra (warning)."""
    unknown = [c for c in columns if c not in required]
    return schema_checks(required, unknown, column_set=required)


def value_expectations(show: list[str], now: datetime | None = None) -> list[Any]:
    """Value checks on one batch; ``critical`` ones reject it, ``warning`` ones are reported."""
    import great_expectations as gx

    e = gx.expectations
    latest = (now or datetime.now()) + timedelta(days=1)
    row = {"show": show}
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
