"""``stages.transform`` by dbt layer, as the ``dbt_<layer>`` tasks call it.

Built one by one on a fresh warehouse, the layers must do exactly what one ``dbt build`` does:
the same models, each test once, and the same tables.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from expectations.marts import mart_suites
from mercato.settings import Settings
from pipeline import stages
from warehouse import reader
from warehouse.sources import sources


def _relations(settings: Settings) -> dict[str, set[str]]:
    """The views and the tables dbt built (schema ``main``) in the warehouse."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        views = con.execute(
            "select view_name from duckdb_views() where schema_name = 'main' and not internal"
        ).fetchall()
        tables = con.execute(
            "select table_name from duckdb_tables() where schema_name = 'main'"
        ).fetchall()
    return {"views": {v for (v,) in views}, "tables": {t for (t,) in tables}}


def _models(settings: Settings, layer: str) -> set[str]:
    return {p.stem for p in (settings.dbt_project_dir / "models" / layer).glob("*.sql")}


def test_layers_in_order_build_what_one_build_does(
    settings: Settings, small_frame: pd.DataFrame, tmp_path: Path
) -> None:
    batch = tmp_path / "orders.csv"
    small_frame.to_csv(batch, index=False)
    assert stages.ingest(settings, batch)["batches"][0]["status"] == "loaded"

    staging = stages.transform(settings, "staging")
    assert staging["models_built"] == len(_models(settings, "staging"))
    assert staging["tests_passed"] > 0, "staging runs its tests and the raw sources' tests"
    assert _relations(settings) == {"views": _models(settings, "staging"), "tables": set()}
    assert "row_counts" not in staging and "docs" not in staging

    # A test that joins an intermediate model to a mart must wait for the marts: on a fresh
    # warehouse it would fail here if the layer picked it up.
    intermediate = stages.transform(settings, "intermediate")
    assert intermediate["models_built"] == len(_models(settings, "intermediate"))
    assert "row_counts" not in intermediate and "docs" not in intermediate
    # the dbt_marts task finishes the build explicitly, as the DAGs call it
    marts = stages.transform(settings, "marts", finish=True)
    assert marts["models_built"] == len(_models(settings, "marts"))
    assert _relations(settings)["tables"] == _models(settings, "marts")
    assert _models(settings, "marts") <= set(marts["row_counts"]), "a mart has no row count"
    assert "raw.order_lines" in marts["row_counts"]
    # only orders were delivered: the raw tables and marts of the other sources stay empty
    unsent = {f"raw.{s.table}" for s in sources(settings) if s.name != "orders"}
    unsent |= {s.table for s in mart_suites() if s.may_be_empty}
    # churn labels need a whole 90-day horizon after a snapshot; this batch covers only 90 days
    unsent.add("churn_labels")
    filled = {t: n for t, n in marts["row_counts"].items() if t not in unsent}
    assert not [t for t, n in filled.items() if n == 0], marts["row_counts"]
    assert Path(marts["docs"]).is_file()

    layered = reader.table_hashes(settings)
    whole = stages.transform(settings)
    summed = Counter(staging["statuses"]) + Counter(intermediate["statuses"])
    assert dict(summed + Counter(marts["statuses"])) == whole["statuses"], "each test once"
    assert reader.table_hashes(settings) == layered
    assert whole["row_counts"] == marts["row_counts"]


def test_a_selector_that_matches_nothing_fails_clearly(settings: Settings) -> None:
    with pytest.raises(ValueError, match="'stagin' matched no model; the layers are staging"):
        stages.transform(settings, "stagin")
