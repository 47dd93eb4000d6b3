"""``warehouse.reader.customer_sample``: whole customers, the same ones every run, about the
rows asked for; nothing sampled within the limit."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pytest

from mercato.settings import get_settings
from warehouse import reader


@pytest.fixture
def settings(tmp_path: Path):
    settings = dataclasses.replace(get_settings(), home=tmp_path / "home")
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        # 4,000 customers x 5 monthly snapshots
        con.execute(
            "create table main.labels as select cast(10000 + c as varchar) as customer_id, "
            "date '2011-01-01' + to_months(m) as snapshot_at, (c + m) % 2 as label "
            "from range(4000) t(c), range(5) s(m)"
        )
    return settings


def _rows(settings, where: str):
    return reader.query(settings, f"select * from main.labels where {where}")


def test_a_sample_keeps_whole_customers_near_the_rows_asked_for(settings) -> None:
    where, share = reader.customer_sample(settings, "main.labels", 5_000)
    assert share == pytest.approx(0.25)
    kept = _rows(settings, where)
    assert 4_000 <= len(kept) <= 6_000
    assert (kept.groupby("customer_id").size() == 5).all()  # every snapshot of a kept customer
    again = _rows(settings, reader.customer_sample(settings, "main.labels", 5_000)[0])
    assert set(again["customer_id"]) == set(kept["customer_id"])
    wider = _rows(settings, reader.customer_sample(settings, "main.labels", 10_000)[0])
    assert set(kept["customer_id"]) < set(wider["customer_id"])


def test_within_the_limit_nothing_is_sampled(settings) -> None:
    assert reader.customer_sample(settings, "main.labels", 20_000) == ("true", 1.0)
    assert len(_rows(settings, "true")) == 20_000
