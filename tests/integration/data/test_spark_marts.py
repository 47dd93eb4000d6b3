"""The order marts built on Spark (``MERCATO_WAREHOUSE=spark``) equal DuckDB's, row for row.

One generated batch is landed once, then built by dbt twice: on DuckDB in this process and on
Spark (dbt-spark's session method, in a child process). Every order mart must have the same
columns with the same types, the same row count and, with rows sorted by the mart's key, the
same values: numbers within 1e-9 relative, text, dates and timestamps exactly. Then the reader,
the mart gate and the feature export must read Spark's marts. The Spark build runs once per
module (it costs a JVM and one to three minutes on a shared 2-core machine).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from mercato.settings import Settings, get_settings
from warehouse import dbt, landing, reader

#: relative tolerance for numbers (the engines may add floats in another order)
RTOL = 1e-9


@dataclasses.dataclass(frozen=True)
class Builds:
    """The same landed batch built on both engines, with the Spark build's summary."""

    duck: Settings
    spark: Settings
    spark_summary: dict[str, Any]


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, small_orders: Path) -> Builds:
    """``small_orders`` landed once; its data folder copied, then built on DuckDB and on Spark."""
    if shutil.which("java") is None:
        pytest.skip("no Java on PATH: pyspark needs Java 17 or newer to build the marts on Spark")
    root = tmp_path_factory.mktemp("engines")
    duck = dataclasses.replace(
        get_settings(), home=root / "duckdb", warehouse="duckdb", mlflow_tracking_uri=""
    )
    duck.ensure_dirs()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MERCATO_HOME", str(duck.home))
        patch.delenv("MERCATO_WAREHOUSE", raising=False)
        landing.ingest_file(duck, small_orders)
    # the same raw tables (same batch ids and load times) for both engines
    shutil.copytree(duck.home, root / "spark")
    spark = dataclasses.replace(duck, home=root / "spark", warehouse="spark")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MERCATO_HOME", str(duck.home))
        patch.delenv("MERCATO_WAREHOUSE", raising=False)
        dbt.run_dbt(duck, ["build"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MERCATO_HOME", str(spark.home))
        patch.setenv("MERCATO_WAREHOUSE", "spark")
        summary = dbt.run_dbt(spark, ["build"])
    return Builds(duck=duck, spark=spark, spark_summary=summary)


def _excluded_sources(manifest: dict[str, Any]) -> set[str]:
    """The source nodes whose lineage Spark leaves out (``dbt.SPARK_EXCLUDED``)."""
    names = {s.removeprefix("source:").removesuffix("+") for s in dbt.SPARK_EXCLUDED}
    return {
        uid
        for uid, node in manifest["sources"].items()
        if f"{node['source_name']}.{node['name']}" in names
    }


def _order_marts(settings: Settings) -> list[str]:
    """Every mart of DuckDB's build whose lineage reads none of the sources Spark leaves out,
    from dbt's manifest (not from the Spark build, so a mart Spark drops is noticed)."""
    manifest = json.loads((settings.dbt_target_dir / "manifest.json").read_text())
    excluded = _excluded_sources(manifest)
    assert excluded, f"none of {dbt.SPARK_EXCLUDED} is a source of the project"
    parents: dict[str, list[str]] = manifest["parent_map"]

    def reads_excluded(uid: str, seen: set[str]) -> bool:
        for parent in parents.get(uid, []):
            if parent in excluded:
                return True
            if parent not in seen:
                seen.add(parent)
                if reads_excluded(parent, seen):
                    return True
        return False

    return sorted(
        node["name"]
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model"
        and node["path"].startswith("marts/")
        and not reads_excluded(uid, set())
    )


def _keys(settings: Settings) -> dict[str, list[str]]:
    """Each mart's key: the columns of its ``unique_combination`` or ``unique`` test."""
    manifest = json.loads((settings.dbt_target_dir / "manifest.json").read_text())
    keys: dict[str, list[str]] = {}
    for node in manifest["nodes"].values():
        meta = node.get("test_metadata") or {}
        model = node.get("attached_node") or ""
        if not model.startswith("model."):
            continue
        name = model.split(".")[-1]
        if meta.get("name") == "unique_combination":
            kwargs = meta["kwargs"]
            keys[name] = list(kwargs.get("columns") or kwargs["arguments"]["columns"])
        elif meta.get("name") == "unique" and name not in keys:
            keys[name] = [node["column_name"]]
    return keys


def _spark_mart(settings: Settings, mart: str) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """A mart Spark wrote (a Parquet folder) with its DuckDB column types, read by DuckDB."""
    folder = settings.spark_dir / "warehouse" / "main.db" / mart
    assert folder.is_dir(), f"Spark wrote no folder for {mart} at {folder}"
    with duckdb.connect() as con:
        relation = f"read_parquet('{folder}/*.parquet')"
        types = [(r[0], r[1]) for r in con.execute(f"describe select * from {relation}").fetchall()]
        return con.execute(f"select * from {relation}").df(), types


def _duck_mart(settings: Settings, mart: str) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        types = [(r[0], r[1]) for r in con.execute(f'describe main."{mart}"').fetchall()]
        return con.execute(f'select * from main."{mart}"').df(), types


def _differences(mart: str, key: list[str], duck: pd.DataFrame, spark: pd.DataFrame) -> list[str]:
    """What differs between two frames with the same columns, rows sorted by key then the rest."""
    order = key + [c for c in duck.columns if c not in key]
    duck = duck.sort_values(order, kind="stable").reset_index(drop=True)
    spark = spark.sort_values(order, kind="stable").reset_index(drop=True)
    problems = []
    for column in duck.columns:
        left, right = duck[column], spark[column]
        if pd.api.types.is_numeric_dtype(left) and pd.api.types.is_numeric_dtype(right):
            same = np.isclose(
                left.astype(float), right.astype(float), rtol=RTOL, atol=0.0, equal_nan=True
            )
        else:
            same = ((left == right) | (left.isna() & right.isna())).to_numpy()
        if not same.all():
            rows = np.flatnonzero(~same)[:3]
            shown = [(duck.loc[i, key].tolist(), left[i], right[i]) for i in rows]
            problems.append(
                f"{mart}.{column}: {len(np.flatnonzero(~same))} of {len(duck)} rows differ, "
                f"e.g. (key, duckdb, spark) {shown}"
            )
    return problems


def test_spark_builds_every_order_mart_and_passes_its_tests(builds: Builds) -> None:
    marts = _order_marts(builds.duck)
    assert {"fct_order_lines", "customer_features", "clv_customer_summary"} <= set(marts)
    written = {p.name for p in (builds.spark.spark_dir / "warehouse" / "main.db").iterdir()}
    assert written == set(marts), "Spark should write exactly the order marts"
    summary = builds.spark_summary
    assert summary["statuses"].get("model_success", 0) == summary["models_built"]
    assert summary["tests_passed"] > 0 and summary["unit_tests_passed"] > 0


def test_spark_order_marts_equal_duckdb_row_for_row(builds: Builds) -> None:
    keys = _keys(builds.duck)
    problems: list[str] = []
    for mart in _order_marts(builds.duck):
        duck, duck_types = _duck_mart(builds.duck, mart)
        spark, spark_types = _spark_mart(builds.spark, mart)
        assert len(duck) > 0, f"{mart} is empty on DuckDB: the batch is too small to compare it"
        if spark_types != duck_types:
            problems.append(f"{mart} columns (name, type): duckdb {duck_types} spark {spark_types}")
            continue
        if len(spark) != len(duck):
            problems.append(f"{mart}: {len(duck)} rows on duckdb, {len(spark)} on spark")
            continue
        problems += _differences(mart, keys.get(mart, []), duck, spark)
    assert not problems, "\n".join(problems)


def test_the_reader_serves_the_spark_marts(builds: Builds) -> None:
    """With ``warehouse="spark"`` every reader call sees Spark's marts (this data folder's
    DuckDB file holds raw tables only: it was copied before DuckDB built anything)."""
    from features import store
    from pipeline import stages

    spark, marts = builds.spark, _order_marts(builds.duck)
    with duckdb.connect(str(spark.warehouse_path), read_only=True) as con:
        in_file = {
            f"{schema}.{name}"
            for schema, name in con.execute(
                "select schema_name, table_name from duckdb_tables() where schema_name <> 'raw'"
            ).fetchall()
        }
    assert not in_file, f"the Spark data folder's DuckDB file should hold no marts: {in_file}"

    tables = reader.list_tables(spark)
    assert [t for t in tables if t.startswith("main.")] == [f"main.{m}" for m in marts]
    assert "raw.order_lines" in tables
    counts = reader.table_counts(spark)
    for mart in marts:
        expected, _ = _spark_mart(spark, mart)
        served = reader.read_table(spark, mart)
        pd.testing.assert_frame_equal(
            served.sort_values(list(served.columns)).reset_index(drop=True),
            expected.sort_values(list(expected.columns)).reset_index(drop=True),
        )
        assert counts[mart] == len(expected)
    lines = reader.query(spark, "select count(*) as n from main.fct_order_lines")
    assert lines["n"][0] == counts["fct_order_lines"] > 0
    # a mart Spark does not build is absent, as a source that has sent nothing
    assert reader.query_if_built(spark, "select count(*) from main.fct_sessions") is None

    # what the pipeline reads next: the mart gate and the feature export
    assert stages.validate(spark)["success"]
    exported = store.export_sources(spark)
    assert exported[store.CUSTOMER_VIEW] == counts["customer_features"]
    assert exported[store.PRODUCT_VIEW] == counts["product_features"]
    assert exported[store.PRODUCT_REVIEW_VIEW] == 0, "no reviews on Spark: exported empty"
