"""Landing and dbt together: idempotent re-runs, a later batch that extends the marts, other
column names, the mart gate, and the real dataset end to end."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pytest
from fixed_dates import END_DATE

from expectations import GateFailed, GateResult
from mercato.settings import Settings, get_settings
from warehouse import dbt, landing, reader

if TYPE_CHECKING:
    from tests.conftest import PipelineRun


def _marts(settings: Settings) -> set[str]:
    """Every mart dbt defines, read from dbt's project (not from the mart gate's list, so a new
    mart the gate forgets fails the gate test)."""
    marts = {p.stem for p in (settings.dbt_project_dir / "models" / "marts").glob("*.sql")}
    assert "fct_order_lines" in marts, f"no marts found under {settings.dbt_project_dir}"
    return marts


def test_rerun_is_identical_and_a_later_batch_extends_the_marts(
    settings: Settings, tmp_path: Path
) -> None:
    from warehouse.synthetic import generate_orders

    frame = generate_orders(n_customers=50, n_products=30, days=120, seed=3, end_date=END_DATE)
    cutoff = sorted(frame["InvoiceDate"])[int(len(frame) * 0.7)]
    first, second = tmp_path / "first.csv", tmp_path / "second.parquet"
    frame[frame["InvoiceDate"] < cutoff].to_csv(first, index=False)
    frame[frame["InvoiceDate"] >= cutoff].to_parquet(second, index=False)

    assert landing.ingest_file(settings, first).status == "loaded"
    dbt.run_dbt(settings, ["build"])
    built = reader.table_hashes(settings)
    assert _marts(settings) <= set(built)

    assert landing.ingest_file(settings, first).status == "duplicate"
    summary = dbt.run_dbt(settings, ["build"])
    assert summary["models_built"] >= len(_marts(settings))
    assert reader.table_hashes(settings) == built, "same data, different marts"

    old = reader.read_table(settings, "fct_order_lines")
    old_counts = reader.table_counts(settings)
    assert landing.ingest_file(settings, second).status == "loaded"
    dbt.run_dbt(settings, ["build"])
    new = reader.read_table(settings, "fct_order_lines")
    new_counts = reader.table_counts(settings)
    assert set(old["order_line_id"]) < set(new["order_line_id"])
    assert new["ordered_at"].max() > old["ordered_at"].max()
    for mart in ("fct_order_lines", "customer_item_interactions", "customer_features"):
        assert new_counts[mart] > old_counts[mart]
    features = reader.read_table(settings, "customer_features", ["snapshot_at"])
    assert features["snapshot_at"].max() > old["ordered_at"].max()


def test_online_retail_ii_names_need_no_option(settings: Settings, tmp_path: Path) -> None:
    """The Online Retail II export (Invoice, Price, Customer ID) runs through the pipeline."""
    from pipeline import stages
    from warehouse.synthetic import generate_orders

    frame = generate_orders(n_customers=40, n_products=25, days=60, seed=5, end_date=END_DATE)
    ii = frame.rename(
        columns={"InvoiceNo": "Invoice", "UnitPrice": "Price", "CustomerID": "Customer ID"}
    )
    path = tmp_path / "online_retail_II.csv"
    ii.to_csv(path, index=False)

    summary = stages.ingest(settings, path)
    assert summary["batches"][0]["status"] == "loaded"
    stages.transform(settings)
    raw = reader.read_table(settings, "raw.order_lines")
    assert list(raw.columns[:8]) == list(frame.columns)
    assert len(raw) == len(frame)
    known = raw["CustomerID"].dropna()
    assert known.str.fullmatch(r"\d+").all(), "customer ids must be integer text"
    customers = reader.read_table(settings, "dim_customers")
    assert set(customers["customer_id"]) <= set(known)
    assert len(reader.read_table(settings, "fct_order_lines")) > 0


def test_any_schema_maps_through_column_map_json(settings: Settings, tmp_path: Path) -> None:
    from warehouse.synthetic import generate_orders

    frame = generate_orders(n_customers=20, n_products=15, days=40, seed=9, end_date=END_DATE)
    theirs = frame.rename(columns={"InvoiceNo": "order_id", "StockCode": "sku", "Country": "ctry"})
    path = tmp_path / "shop_export.csv"
    theirs.to_csv(path, index=False)
    (settings.home / "column_map.json").write_text(
        json.dumps({"order_id": "InvoiceNo", "sku": "StockCode", "ctry": "Country"})
    )
    result = landing.ingest_file(settings, path)
    assert result.status == "loaded"
    assert result.rows == len(frame)


def test_mart_gate_passes_then_catches_lost_rows_and_bad_values(
    warehouse_settings: Settings,
) -> None:
    from pipeline import stages

    result = stages.validate(warehouse_settings)
    assert result["success"]
    # a mart of a source that has sent nothing yet (reviews, campaigns, sessions, ads) is empty and
    # has nothing to check
    from expectations.mart_gate import mart_tables

    counts = reader.table_counts(warehouse_settings)
    assert set(mart_tables()) <= _marts(warehouse_settings), "a suite of a mart dbt did not build"
    checked = {c["name"].split(":")[0] for c in result["checks"]}
    assert checked == {m for m in mart_tables() if counts.get(m, 0) > 0}
    assert Path(result["data_docs"]).is_file()

    with duckdb.connect(str(warehouse_settings.warehouse_path)) as con:
        con.execute("delete from customer_features where hash(customer_id) % 2 = 0")
        con.execute(
            "update customer_features set return_rate = 2.0 "
            "where customer_id = (select min(customer_id) from customer_features)"
        )
    with pytest.raises(GateFailed) as caught:
        stages.validate(warehouse_settings)
    message = str(caught.value)
    assert "(data rows" not in message, "a warehouse table has no row order to number"
    assert not any(c.row_numbers for c in caught.value.result.checks)
    assert "customer_features: customer_features keeps at least" in message
    assert "customer_features: return_rate in [0, 1]" in message
    report = Path(caught.value.result.report_path)
    assert report.is_file() and "return_rate in [0, 1]" in report.read_text()


def test_table_hashes_ignore_row_order_but_not_content(settings: Settings) -> None:
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create table a as select * from range(100) t(x)")
        con.execute("create table b as select * from range(100) t(x) order by x desc")
        con.execute("create table c as select * from range(100) t(x)")
    first = reader.table_hashes(settings)
    assert first["a"] == first["b"] == first["c"]
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("update c set x = 1000 where x = 5")
    assert reader.table_hashes(settings)["c"] != first["c"]
    with pytest.raises(KeyError, match="no table"):
        reader.read_table(settings, "nope")


def test_dbt_failure_names_the_failing_node(warehouse_settings: Settings) -> None:
    """A broken row in raw surfaces as an error naming the failed dbt test."""
    with duckdb.connect(str(warehouse_settings.warehouse_path)) as con:
        con.execute("insert into raw.order_lines (InvoiceNo, batch_id) values ('X1', 'nope')")
    with pytest.raises(dbt.DbtFailed) as caught:
        dbt.run_dbt(warehouse_settings, ["test", "--select", "source:raw"])
    message = str(caught.value)
    assert "not_null_order_lines_StockCode" in message or "source_not_null" in message
    assert "relationships" in message


@pytest.mark.shared
def test_real_dataset_passes_every_check(real_pipeline: PipelineRun) -> None:
    """Acceptance 1: the real file goes through both gates and every dbt test.

    Reads the session's real warehouse (ingested and transformed once for every test area);
    the mart gate only reads it.
    """
    from pipeline import stages

    settings = real_pipeline.settings
    (batch,) = real_pipeline.summaries["ingest"]["batches"]
    assert batch["status"] == "loaded"
    assert batch["rows"] == 541_909
    summary = real_pipeline.summaries["transform"]
    assert summary["tests_passed"] > 50 and summary["unit_tests_passed"] >= 4
    assert stages.validate(settings)["success"]
    counts = reader.table_counts(settings)
    assert counts["raw.order_lines"] == 541_909
    assert 4_300 <= counts["dim_customers"] <= 4_372
    assert counts["fct_order_lines"] < 406_829  # at most the lines that have a customer
    raw = reader.read_table(settings, "raw.order_lines", ["CustomerID"])
    assert raw["CustomerID"].dropna().str.fullmatch(r"\d+").all()
    products = reader.read_table(settings, "dim_products", ["description"])
    assert not products["description"].str.contains("Â", na=False).any()


def _mart_checks(result: GateResult | dict, table: str) -> dict[str, tuple]:
    """(success, unexpected count, unexpected percent, examples) of ``table``'s checks."""
    checks = result.checks if isinstance(result, GateResult) else result["checks"]
    out = {}
    for c in checks:
        c = c if isinstance(c, dict) else dataclasses.asdict(c)
        if c["name"].startswith(f"{table}: "):
            out[c["name"]] = (
                c["success"],
                c["unexpected_count"],
                c["unexpected_percent"],
                sorted(map(str, c["examples"])),
            )
    return out


def test_a_big_mart_is_gated_in_chunks_as_gx_judges_it_whole(
    warehouse_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fct_order_lines above MERCATO_INGEST_CHUNK_ROWS is read a chunk at a time: the same
    checks pass, and a duplicate id spread over two chunks and a bad price are caught with the
    counts of the whole-table run."""
    from expectations.mart_gate import check_marts
    from pipeline import stages

    rows = reader.table_counts(warehouse_settings)["fct_order_lines"]
    assert rows > 3 * 400, "the batch is too small to make several chunks"
    whole = stages.validate(warehouse_settings)
    monkeypatch.setenv("MERCATO_INGEST_CHUNK_ROWS", "400")
    small = get_settings()
    chunked = stages.validate(small)
    assert chunked["success"]
    assert _mart_checks(chunked, "fct_order_lines") == _mart_checks(whole, "fct_order_lines")
    assert len(_mart_checks(chunked, "fct_order_lines")) == 6  # row count and the five checks

    with duckdb.connect(str(small.warehouse_path)) as con:
        con.execute(
            "update fct_order_lines set order_line_id = (select min(order_line_id) "
            "from fct_order_lines) where order_line_id = (select max(order_line_id) "
            "from fct_order_lines)"
        )
        con.execute(
            "update fct_order_lines set unit_price = -1 where order_line_id in "
            "(select order_line_id from fct_order_lines order by order_line_id limit 3)"
        )
    lazy = reader.LazyTables(small, ["fct_order_lines"])
    seen = {}
    for label, settings in (("whole", warehouse_settings), ("chunked", small)):
        result = check_marts(
            lazy
            if label == "chunked"
            else {"fct_order_lines": reader.read_table(small, "fct_order_lines")},
            {},
            settings,
        )
        assert not result.success
        seen[label] = _mart_checks(result, "fct_order_lines")
    assert seen["chunked"] == seen["whole"]
    failed = {name for name, (ok, *_) in seen["chunked"].items() if not ok}
    assert failed == {
        "fct_order_lines: order_line_id is unique",
        next(n for n in seen["chunked"] if "unit_price" in n),
    }
