"""Every DAG runs under ``dag.test()`` on a small generated batch, with its final state asserted."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from dag_helpers import (
    AFTER_INGEST,
    DBT_TASKS,
    FAMILIES,
    FIRST_CHAMPIONS,
    MODEL_NAMES,
    OTHER_SOURCE_FAMILIES,
    TRAINED_MODELS,
    DagRunResult,
    model_versions,
    run_dag,
)

from mercato.settings import Settings
from warehouse.dbt import DBT_LAYERS


def test_pipeline_dag_runs_every_stage(pipeline_run: tuple[Settings, DagRunResult]) -> None:
    settings, run = pipeline_run
    assert run.state == "success", run.task_states
    assert run.task_states == dict.fromkeys(("ingest", *AFTER_INGEST), "success")
    [batch] = run.results["ingest"]["batches"]
    assert batch["status"] == "loaded" and batch["rows"] > 0
    assert (settings.archive_dir / batch["batch_id"]).is_dir()
    assert not any(settings.landing_dir.iterdir()), "the landing folder is emptied"
    for family in FAMILIES:
        assert run.results[f"train_{family}"], f"train_{family} returned no summary"
    skipped = {f for f in FAMILIES if "skipped" in str(run.results[f"train_{f}"])}
    assert skipped == set(OTHER_SOURCE_FAMILIES) & set(FAMILIES), "only families without data skip"
    versions = model_versions(settings)
    assert all(versions[name] for name in TRAINED_MODELS), "every family with data has a version"
    champions = run.results["champions"]["champions"]
    assert set(champions) == set(MODEL_NAMES)
    assert all(champions[name] for name in FIRST_CHAMPIONS), "the first versions become champions"


def test_stage_dags_run_in_order(
    dagbag: Any, pipeline_run: tuple[Settings, DagRunResult], small_orders: Path
) -> None:
    """The asset chain, one DAG after another; delivering the same file again changes nothing."""
    settings, first = pipeline_run
    before = model_versions(settings)
    shutil.copy(small_orders, settings.landing_dir / small_orders.name)

    ingest = run_dag(dagbag, "mercato_ingest", settings)
    assert ingest.state == "success", ingest.task_states
    [batch] = ingest.results["ingest"]["batches"]
    assert batch["status"] == "duplicate"
    assert batch["batch_id"] == first.results["ingest"]["batches"][0]["batch_id"]

    transform = run_dag(dagbag, "mercato_transform", settings)
    assert transform.state == "success", transform.task_states
    assert transform.task_states == dict.fromkeys((*DBT_TASKS, "validate"), "success")
    built = {t: transform.results[t]["models_built"] for t in DBT_TASKS}
    models = settings.dbt_project_dir / "models"
    expected = {f"dbt_{layer}": len(list((models / layer).glob("*.sql"))) for layer in DBT_LAYERS}
    assert set(expected) == set(DBT_TASKS)
    assert built == expected, "each dbt task builds exactly its layer's models"
    assert transform.results["dbt_marts"]["row_counts"] == first.results["dbt_marts"]["row_counts"]

    features = run_dag(dagbag, "mercato_features", settings)
    assert features.state == "success", features.task_states

    train = run_dag(dagbag, "mercato_train", settings)
    assert train.state == "success", train.task_states
    assert set(train.results["collect_models"]) == set(FAMILIES)
    after = model_versions(settings)
    for name in MODEL_NAMES:
        assert len(after[name]) >= len(before[name])
        assert all(v.status == "READY" for v in after[name])

    deploy = run_dag(dagbag, "mercato_champions", settings)
    assert deploy.state == "success", deploy.task_states
    assert set(deploy.results["champions"]["champions"]) == set(MODEL_NAMES)
