"""
### Mercato: the whole pipeline in one run

Every stage in order, in one DAG run: ingest (GX raw gate) → dbt, one task per layer
(`dbt_staging` → `dbt_intermediate` → `dbt_marts`, each `dbt build --select <layer>` with its
tests) → GX mart gate → materialize features → train every model family side by side
(each with evaluation and the promotion gate) → champions. The same tasks as the stage DAGs
`mercato_ingest`, `mercato_transform`, `mercato_features`, `mercato_train` and `mercato_champions`,
for a manual run from the UI or the REST API. It emits only asset `mercato_run`, which starts
`mercato_monitor` and none of the stage DAGs.

- **Reads:** `$MERCATO_HOME/landing/` (or the file in the `data` parameter).
- **Writes:** everything the stages write: the DuckDB warehouse, `$MERCATO_HOME/archive/`,
  `quarantine/`, `dbt/`, `gx/`, `feast/` and `mlflow/`.
- A failed gate fails its task and every task after it ends `upstream_failed`: a rejected batch
  never reaches the marts, and the champions stay as they were.

**Rerun:** trigger again (every stage is idempotent), or clear a failed task and its downstream.
"""

from __future__ import annotations

from airflow.sdk import chain, dag

from dags._common import (
    DATA_PARAM,
    DEFAULT_ARGS,
    RUN,
    START_DATE,
    champions,
    dbt_layers,
    features,
    ingest,
    train_all,
    validate,
)


@dag(
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={"data": DATA_PARAM},
    tags=["mercato", "pipeline"],
    doc_md=__doc__,
)
def mercato_pipeline() -> None:
    chain(
        ingest(),
        *dbt_layers(),
        validate(),
        features(),
        train_all(),
        champions.override(outlets=[RUN])(),
    )


mercato_pipeline()
