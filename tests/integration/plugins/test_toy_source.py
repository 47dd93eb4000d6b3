"""A raw source declared in the test tree only is recognised, gated, loaded or quarantined.

``tests/toys/toy_source.py`` declares ``SOURCE`` (product ratings); nothing shipped names it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from expectations import GateFailed
from mercato.settings import Settings

RATINGS = pd.DataFrame(
    {
        "id": ["r1", "r2", "r3"],
        "sku": ["85123A", "71053", "84406B"],
        "stars": [5, 2, 4],
        "text": ["lovely", "broke", "fine"],
    }
)


def _csv(tmp_path: Path, name: str, frame: pd.DataFrame) -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_a_file_with_the_sources_columns_loads_into_its_own_table(
    toy_env: Settings, tmp_path: Path
) -> None:
    from pipeline import stages
    from warehouse import reader

    summary = stages.ingest(toy_env, _csv(tmp_path, "ratings.csv", RATINGS))
    (batch,) = summary["batches"]
    assert (batch["source"], batch["status"], batch["rows"]) == ("toy_ratings", "loaded", 3)
    rows = reader.query(toy_env, "select * from raw.toy_ratings order by rating_id")
    assert rows["rating"].tolist() == [5, 2, 4]
    assert rows["product_id"].tolist() == ["85123A", "71053", "84406B"]
    sources = reader.query(
        toy_env, "select source from raw.batches where batch_id = ?", [batch["batch_id"]]
    )
    assert sources["source"].tolist() == ["toy_ratings"]
    assert (toy_env.archive_dir / batch["batch_id"] / "ratings.csv").is_file()


def test_bad_values_are_quarantined_with_the_sources_own_checks(
    toy_env: Settings, tmp_path: Path
) -> None:
    from pipeline import stages

    bad = RATINGS.assign(stars=[5, 9, 4])
    path = _csv(tmp_path, "bad-ratings.csv", bad)
    with pytest.raises(GateFailed, match="rating is between 1 and 5") as caught:
        stages.ingest(toy_env, path)
    report = Path(caught.value.result.report_path)
    assert report.parent.parent == toy_env.quarantine_dir
    assert (report.parent / "bad-ratings.csv").read_bytes() == path.read_bytes()
    facts = json.loads((report.parent / "report.json").read_text())
    assert facts["source"] == "toy_ratings"


def test_a_file_that_matches_no_source_is_refused_naming_what_each_expects(
    toy_env: Settings, tmp_path: Path
) -> None:
    from pipeline import stages

    path = _csv(tmp_path, "mystery.csv", pd.DataFrame({"foo": [1], "bar": [2]}))
    with pytest.raises(GateFailed) as caught:
        stages.ingest(toy_env, path)
    message = str(caught.value)
    assert "match no raw source" in message
    assert "orders: InvoiceNo, StockCode" in message
    assert "toy_ratings: rating_id, product_id, rating" in message
    report = Path(caught.value.result.report_path)
    assert (report.parent / "mystery.csv").is_file()


def test_the_source_can_be_named_for_a_file_whose_columns_do_not_say(
    toy_env: Settings, tmp_path: Path
) -> None:
    """Named, the file is judged by that source's gate, which names the missing column."""
    from pipeline import cli

    partial = _csv(tmp_path, "partial.csv", RATINGS[["id", "stars"]])
    assert cli.main(["ingest", "--source", "toy_ratings", str(partial)]) == 1
    quarantined = list(toy_env.quarantine_dir.glob("*/partial.csv"))
    assert len(quarantined) == 1
    report = (quarantined[0].parent / "report.md").read_text()
    assert "required column product_id is missing" in report
