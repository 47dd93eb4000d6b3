"""The monitor on the data folder the whole pipeline built once (``pipeline_home``, read only):
the run's own monitor passes and is linked from the summary; a copy whose newest feature
snapshot has one input shifted fails naming that input, and its report shows it."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from mercato.settings import Settings
from monitoring.monitor import MonitorAlert, latest_result
from pipeline import stages

#: The monitored families with a champion in the pipeline's folder (churn's first version
#: does not beat its recency baseline on the small generated data, so it has none).
MONITORED = {"propensity", "segmentation"}


def test_the_pipeline_run_monitors_its_champions_and_links_the_report(
    pipeline_home: Settings,
) -> None:
    summary = json.loads((pipeline_home.run_log_dir / "latest.json").read_text())
    result = latest_result(pipeline_home)
    assert result is not None and summary["monitor"]["run"] == result["run"]
    assert Path(result["report"]).is_file()
    assert set(result["families"]) >= MONITORED, result["families"].keys()
    for family in MONITORED:
        part = result["families"][family]
        assert part["drifted"] == [] and not part["prediction_drifted"], part
        assert {d["feature"] for d in part["features"]} >= {"recency_days", "monetary"}
    assert result["alerts"] == [], result["alerts"]
    # this run's propensity and churn scores are kept for the realised-performance check
    kept = pipeline_home.monitoring_dir / "predictions" / "propensity"
    assert list(kept.glob("*.parquet"))
    # and so are the recommender's top-k lists, judged once the following purchases are in
    assert "top-10 lists" in result["families"]["recommendation"]["skipped"]
    (ranked,) = (pipeline_home.monitoring_dir / "predictions" / "recommendation").glob("*.parquet")
    lists = pd.read_parquet(ranked)
    assert lists.groupby("customer_id")["rank"].max().eq(10).all()
    assert result["realised_topk"] == []  # one run: no window has passed yet
    names = {a["name"] for a in result["freshness"]}
    assert {"customer_features", "propensity_labels"} <= names
    assert any(name.startswith("online_store:") for name in names)

    from pipeline.summary import format_summary

    assert f"monitor: ok, report {result['report']}" in format_summary(summary)


@pytest.fixture
def shifted_home(pipeline_home: Settings, tmp_path: Path) -> Settings:
    """A copy of the pipeline's data folder whose newest snapshot's ``monetary`` is tripled."""
    import duckdb

    home = tmp_path / "home"
    shutil.copytree(pipeline_home.home, home, ignore=shutil.ignore_patterns("archive", "dbt"))
    copy = dataclasses.replace(pipeline_home, home=home)
    with duckdb.connect(str(copy.warehouse_path)) as con:
        con.execute(
            "update main.customer_features set monetary = monetary * 3 + 50 "
            "where snapshot_at = (select max(snapshot_at) from main.customer_features)"
        )
    return copy


def test_a_shifted_input_fails_the_monitor_naming_it(
    shifted_home: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.cli import main

    monkeypatch.setenv("MERCATO_HOME", str(shifted_home.home))
    monkeypatch.delenv("MERCATO_MLFLOW_TRACKING_URI", raising=False)
    assert main(["monitor"]) == 1
    out = capsys.readouterr().out
    assert "propensity v1: monetary" in out and "ALERT propensity: feature monetary drifted" in out
    with pytest.raises(MonitorAlert, match="feature monetary drifted") as caught:
        stages.monitor(shifted_home)
    result = caught.value.result
    for family in MONITORED:
        assert result["families"][family]["drifted"] == ["monetary"], family
    assert set(result["retrain"]) == MONITORED
    page = Path(result["report"]).read_text()
    assert "<td>monetary</td>" in page and "DRIFT" in page
    assert latest_result(shifted_home)["run"] == result["run"]


@pytest.mark.parametrize(
    ("mart", "horizon", "bought_is_positive"),
    [
        ("propensity_labels", "propensity_horizon_days", True),
        ("churn_labels", "churn_horizon_days", False),
    ],
)
def test_realised_labels_follow_the_marts_label_rule(
    pipeline_home: Settings, mart: str, horizon: str, bought_is_positive: bool
) -> None:
    """The monitor labels kept predictions in Python (the marts' snapshot grid moves with new
    data, so their rows cannot be joined on); on every labelled snapshot of the marts, the two
    copies of the rule agree row for row."""
    from monitoring.realised import labels_at
    from warehouse import reader

    orders = reader.query(
        pipeline_home,
        "select distinct customer_id, ordered_at from main.fct_order_lines "
        "where not is_cancellation",
    )
    labels = reader.query(pipeline_home, f"select customer_id, snapshot_at, label from main.{mart}")
    assert labels["snapshot_at"].nunique() >= 3
    for as_of, rows in labels.groupby("snapshot_at"):
        ours = labels_at(
            orders,
            rows["customer_id"],
            pd.Timestamp(as_of),
            getattr(pipeline_home, horizon),
            bought_is_positive,
        )
        assert ours is not None, f"{mart} labels {as_of}, the monitor calls it immature"
        assert ours.tolist() == rows["label"].astype(int).tolist(), as_of
