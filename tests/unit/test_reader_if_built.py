"""``warehouse.reader.query_if_built``: "nothing yet" only for a missing warehouse or table."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pytest

from mercato.settings import get_settings
from warehouse import reader


def test_missing_warehouse_or_table_is_none_and_other_errors_raise(tmp_path: Path) -> None:
    settings = dataclasses.replace(get_settings(), home=tmp_path / "home")
    assert reader.query_if_built(settings, "select count(*) as n from main.fct_sessions") is None

    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create table main.fct_orders as select 1 as n union all select 2")
    assert reader.query_if_built(settings, "select count(*) as n from main.fct_sessions") is None
    rows = reader.query_if_built(settings, "select count(*) as n from main.fct_orders")
    assert int(rows["n"].iloc[0]) == 2
    with pytest.raises(duckdb.Error):
        reader.query_if_built(settings, "select nonsense from")
