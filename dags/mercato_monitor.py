"""
### Mercato: watch the champions in production

Runs daily, after every training (asset `mercato_models`) and after every whole-pipeline run
(asset `mercato_run`). `monitor` compares every input of each monitored champion (propensity,
churn, segmentation) in the newest feature snapshot with the reference profile logged by its
training run (PSI plus KS or chi-square per feature, PSI of the scores), scores the champion's
earlier predictions whose labels have matured, and checks the age of every mart and of the
online store. The limits are the `MERCATO_MONITOR_*` settings.

- **Reads:** the marts, the online store's materialization record, the MLflow champions and
  their `reference_profile.json`, `$MERCATO_HOME/monitoring/predictions/`.
- **Writes:** `$MERCATO_HOME/monitoring/results/<run>.json` (and `latest.json`, which the
  service's `/metrics` reads), the HTML report `monitoring/reports/<run>.html`, this run's
  propensity and churn predictions.
- `request_retrain` emits asset `mercato_features` (which starts `mercato_train`) when a
  drifted or underperforming champion has not been sent to retraining yet; otherwise it is
  skipped. `check` fails with a message naming every feature or metric over its limit.

**Rerun:** safe at any time: a rerun writes a new result and report, and asks for a retrain of
a given champion version only once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from dags._common import DEFAULT_ARGS, FEATURES, MODELS, RUN, START_DATE, runtime_settings
from mercato.names import DUCKDB_POOL


@task(pool=DUCKDB_POOL, execution_timeout=timedelta(minutes=20))
def monitor() -> dict[str, Any]:
    """Drift, realised performance and freshness; the alerts are decided by ``check``."""
    from pipeline import stages

    result = stages.monitor(runtime_settings(), fail=False)
    families = {f: {"version": p["version"]} for f, p in result["families"].items()}
    return {**{k: result[k] for k in ("run", "alerts", "retrain", "report")}, "families": families}


@task(outlets=[FEATURES], execution_timeout=timedelta(minutes=5))
def request_retrain(result: dict[str, Any]) -> list[str]:
    """Start ``mercato_train`` for champions not yet sent to retraining; skip otherwise."""
    from monitoring.monitor import request_retrain as newly_requested

    families = newly_requested(runtime_settings(), result)
    if not families:
        raise AirflowSkipException("no champion needs a new retrain")
    return families


@task(execution_timeout=timedelta(minutes=5))
def check(result: dict[str, Any]) -> None:
    """Fail, naming every feature or metric over its limit and the report."""
    if result["alerts"]:
        raise AirflowFailException(
            "monitor: " + "; ".join(result["alerts"]) + f". Report: {result['report']}"
        )


@dag(
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("@daily", timezone="UTC"), assets=(MODELS | RUN)
    ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["mercato", "monitoring"],
    doc_md=__doc__,
)
def mercato_monitor() -> None:
    result = monitor()
    request_retrain(result)
    check(result)


mercato_monitor()
