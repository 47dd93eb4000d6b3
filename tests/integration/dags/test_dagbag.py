"""The DAG folder's integrity: every DAG parses, is documented, and follows the house rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dag_helpers import DAG_IDS, DAGS_FOLDER, DBT_TASKS, DUCKDB_POOL, FAMILIES

#: Tasks that write (or must not read while another task writes) the DuckDB warehouse.
WAREHOUSE_TASKS = {"ingest", *DBT_TASKS, "validate", "features"}

IMPORT_TIME_SCRIPT = """
import importlib.util, json, sys, time
from airflow.sdk import Asset, Param, chain, dag, task  # what the dag-processor has loaded
path = sys.argv[1]
tick = time.perf_counter()
spec = importlib.util.spec_from_file_location("dag_under_test", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps({"seconds": time.perf_counter() - tick, "heavy": sorted(
    m for m in ("great_expectations", "feast", "mlflow", "sklearn", "dbt", "duckdb", "pandas",
                "bentoml", "cosmos") if m in sys.modules)}))
"""


def test_no_import_errors(dagbag: Any) -> None:
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == sorted(DAG_IDS)
    # .airflowignore keeps the shared module and the package marker out of parsing
    parsed = {Path(stat.file).name for stat in dagbag.dagbag_stats}
    assert parsed == {f"{dag_id}.py" for dag_id in DAG_IDS}
    assert all(stat.warning_num == 0 for stat in dagbag.dagbag_stats)


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_follows_house_rules(dagbag: Any, dag_id: str) -> None:
    dag = dagbag.dags.get(dag_id)
    assert Path(dag.fileloc).name == f"{dag_id}.py", "one DAG per file, file name == dag_id"
    assert dag.doc_md and "Rerun" in dag.doc_md, "doc_md says what it does and how to rerun"
    assert "Reads:" in dag.doc_md or "reads" in dag.doc_md.lower()
    assert dag.tags and "mercato" in dag.tags
    assert dag.owner == "mercato"
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.tasks
    for task in dag.tasks:
        assert task.retries >= 1, f"{task.task_id} has no retries"
        assert task.execution_timeout is not None, f"{task.task_id} has no execution_timeout"
        assert task.owner == "mercato"
        if task.task_id in WAREHOUSE_TASKS:
            assert task.pool == DUCKDB_POOL, f"{task.task_id} must take the one-slot pool"


def test_schedules_hand_over_through_assets(dagbag: Any) -> None:
    def outlets(dag_id: str) -> set[str]:
        return {a.name for t in dagbag.dags.get(dag_id).tasks for a in t.outlets}

    def inlets(dag_id: str) -> set[str]:
        return {a.name for a in dagbag.dags[dag_id].schedule}

    assert dagbag.dags["mercato_ingest"].schedule == "@daily"
    chain = ["mercato_ingest", "mercato_transform", "mercato_features", "mercato_train"]
    for producer, consumer in zip(chain, [*chain[1:], "mercato_champions"], strict=True):
        handed = outlets(producer)
        assert handed, f"{producer} emits no asset"
        assert inlets(consumer) == handed, f"{consumer} is not scheduled on {producer}'s asset"
    # The whole-pipeline DAG runs on demand and must not start the stage DAGs as well: it
    # emits only the run asset, which only the monitor schedules on.
    assert outlets("mercato_pipeline") == {"mercato_run"}
    assert dagbag.dags["mercato_pipeline"].schedule is None
    for dag_id in set(DAG_IDS) - {"mercato_monitor", "mercato_ingest", "mercato_pipeline"}:
        assert "mercato_run" not in inlets(dag_id), dag_id


def test_the_monitor_runs_daily_and_after_training_and_each_pipeline_run(dagbag: Any) -> None:
    from airflow.sdk import AssetOrTimeSchedule

    dag = dagbag.dags["mercato_monitor"]
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    assert dag.timetable.timetable.expression == "0 0 * * *"
    assets = {a.name for a in dag.timetable.asset_condition.objects}
    assert assets == {"mercato_models", "mercato_run"}
    tasks = {t.task_id: t for t in dag.tasks}
    assert set(tasks) == {"monitor", "request_retrain", "check"}
    assert {a.name for a in tasks["request_retrain"].outlets} == {"mercato_features"}
    assert tasks["monitor"].downstream_task_ids == {"request_retrain", "check"}


def test_pipeline_runs_stages_in_order(dagbag: Any) -> None:
    dag = dagbag.dags.get("mercato_pipeline")
    trainings = {f"train_{f}" for f in FAMILIES}
    steps = ["ingest", *DBT_TASKS, "validate", "features"]
    for task_id, next_id in zip(steps, steps[1:], strict=False):
        assert dag.get_task(task_id).downstream_task_ids == {next_id}, task_id
    assert dag.get_task("features").downstream_task_ids == trainings
    for name in trainings:  # side by side, each straight into champions
        assert dag.get_task(name).downstream_task_ids == {"champions"}
    train = dagbag.dags.get("mercato_train")
    assert all(train.get_task(t).upstream_task_ids == set() for t in trainings)


def test_transform_shows_each_dbt_layer_as_a_task(dagbag: Any) -> None:
    """One task per dbt layer in build order, then the mart gate, which alone emits the marts."""
    from warehouse.dbt import DBT_LAYERS

    assert tuple(f"dbt_{layer}" for layer in DBT_LAYERS) == DBT_TASKS
    dag = dagbag.dags.get("mercato_transform")
    steps = [*DBT_TASKS, "validate"]
    assert {t.task_id for t in dag.tasks} == set(steps)
    assert dag.get_task(steps[0]).upstream_task_ids == set()
    for task_id, next_id in zip(steps, steps[1:], strict=False):
        assert dag.get_task(task_id).downstream_task_ids == {next_id}, task_id
    emitting = {t.task_id: {a.name for a in t.outlets} for t in dag.tasks if t.outlets}
    assert emitting == {"validate": {"mercato_marts"}}
    # only the last layer finishes the build (row counts and dbt's docs), in both DAGs that build
    for dag_id in ("mercato_transform", "mercato_pipeline"):
        tasks = [dagbag.dags[dag_id].get_task(t) for t in DBT_TASKS]
        calls = [(list(t.op_args), t.op_kwargs) for t in tasks]
        assert calls == [([layer], {"finish": layer == DBT_LAYERS[-1]}) for layer in DBT_LAYERS], (
            dag_id
        )


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_file_imports_fast_and_light(dag_id: str) -> None:
    """Parsing a DAG file costs well under a second and loads none of the heavy libraries."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_TIME_SCRIPT, str(DAGS_FOLDER / f"{dag_id}.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\n{dag_id}.py imports in {measured['seconds'] * 1000:.0f} ms")
    assert measured["heavy"] == []
    assert measured["seconds"] < 1.0


def test_a_family_from_outside_gets_its_training_task(
    airflow_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The training DAG's tasks come from the one list of families: the toy family of
    ``tests/toys`` (declared there only) gets ``train_toy`` beside the others."""
    from airflow.dag_processing.dagbag import DagBag

    toys = Path(__file__).resolve().parents[2] / "toys"
    monkeypatch.syspath_prepend(str(toys))
    monkeypatch.setenv("MERCATO_EXTRA_FAMILIES", "toy=toy_family")
    bag = DagBag(dag_folder=str(DAGS_FOLDER), safe_mode=True)
    assert bag.import_errors == {}
    trainings = {t for t in bag.get_dag("mercato_train").task_ids if t.startswith("train_")}
    assert trainings == {f"train_{f}" for f in FAMILIES} | {"train_toy"}
    pipeline = bag.get_dag("mercato_pipeline")
    assert pipeline.get_task("train_toy").downstream_task_ids == {"champions"}
