"""The raw-source contract: declared once, recognised by columns, matched with dbt's side."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from mercato.names import customer_id_text
from mercato.settings import get_settings
from warehouse.sources import UnknownSource, get_source, recognise, sources
from warehouse.sources.orders import SOURCE as ORDERS
from warehouse.sources.orders import customer_ids

UCI = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice"]
UCI += ["CustomerID", "Country"]
RETAIL_II = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price"]
RETAIL_II += ["Customer ID", "Country"]


def test_orders_is_recognised_under_both_spellings_and_when_a_column_is_missing() -> None:
    assert recognise(UCI).name == "orders"
    assert recognise(RETAIL_II).name == "orders"
    # missing one column: still the orders file, so its gate can name what is missing
    assert recognise([c for c in UCI if c != "Quantity"]).name == "orders"


def test_a_file_like_no_source_is_refused_with_what_each_source_expects() -> None:
    with pytest.raises(UnknownSource) as caught:
        recognise(["foo", "bar", "InvoiceNo"])
    message = str(caught.value)
    assert "foo, bar, InvoiceNo" in message
    assert "orders: " + ", ".join(UCI) in message
    assert "--source" in message and "column_map.json" in message


def test_a_column_map_renames_before_recognition() -> None:
    theirs = ["order", "sku", "text", "qty", "when", "price", "who", "where"]
    mapping = dict(zip(theirs, UCI, strict=True))
    assert ORDERS.match(theirs) < 0.5
    assert recognise(theirs, column_map=mapping).name == "orders"
    renamed = ORDERS.map_columns(pd.DataFrame(columns=theirs), mapping)
    assert list(renamed.columns) == UCI


def test_every_declared_source_has_its_dbt_staging_model_and_raw_table() -> None:
    settings = get_settings()
    staging = settings.dbt_project_dir / "models" / "staging"
    raw_tables = {
        t["name"]
        for path in sorted(staging.glob("_*sources.yml"))
        for s in yaml.safe_load(path.read_text())["sources"]
        if s.get("schema", s["name"]) == "raw"
        for t in s["tables"]
    }
    for source in sources(settings):
        assert (staging / f"{source.staging_model}.sql").is_file(), source.name
        assert source.table in raw_tables, f"{source.table} is not a dbt source"
        assert get_source(source.name, settings) is source


def test_the_raw_table_ddl_has_the_declared_types_and_the_batch_columns() -> None:
    ddl = ORDERS.ddl()
    assert '"Quantity" BIGINT' in ddl and '"InvoiceDate" TIMESTAMP' in ddl
    assert ddl.index('"Country"') < ddl.index('"batch_id" VARCHAR') < ddl.index('"loaded_at"')


def test_unknown_sources_and_bad_extras_are_named() -> None:
    from mercato.names import parse_extras

    with pytest.raises(ValueError, match="unknown raw source 'nope'; choose one of orders"):
        get_source("nope")
    with pytest.raises(ValueError, match="bad MERCATO_EXTRA_SOURCES entry 'Bad'"):
        parse_extras("ok=mod, Bad", "MERCATO_EXTRA_SOURCES")
    assert parse_extras(" a=x.y ,b=z ", "X") == {"a": "x.y", "b": "z"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (17850, "17850"),
        (17850.0, "17850"),
        ("17850.0", "17850"),
        (" 17850 ", "17850"),
        ("A-17", "A-17"),
        ("", None),
        (None, None),
        (float("nan"), None),
    ],
)
def test_one_rule_writes_customer_ids_for_every_layer(raw: object, expected: str | None) -> None:
    """The scalar rule (serving's requests) and the vectorised one (landing) agree."""
    assert customer_id_text(raw) == expected
    vectorised = customer_ids(pd.Series([raw], dtype=object)).iloc[0]
    assert (None if pd.isna(vectorised) else vectorised) == expected
