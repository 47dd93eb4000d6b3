"""
### Mercato: train, evaluate and gate the three models

Runs when fresh features are materialized (asset `mercato_features`). Three tasks run side by
side, one per model family: **segmentation**, **recommendation** and **propensity**. Each builds
its training data, trains, evaluates on the hold-out, registers a new MLflow version with alias
`challenger`, and applies the **promotion gate**: `champion` moves only when the challenger wins
on the same hold-out by the promotion margin (the decision is recorded as version tags).

- **Reads:** DuckDB marts and the Feast offline store.
- **Writes:** MLflow runs and registered models `mercato_segmentation`, `mercato_recommender`,
  `mercato_propensity` in `$MERCATO_HOME/mlflow/`.
- **Emits:** asset `mercato_models` when every family is done, which starts `mercato_champions`.

**Rerun:** safe; clear one `train_<family>` task to retrain only that family. Training is
seeded, and a retried task (even one killed mid-run) leaves no half-written model version.
"""

from __future__ import annotations

from airflow.sdk import dag

from dags._common import DEFAULT_ARGS, FEATURES, MODELS, START_DATE, collect_models, train_all


@dag(
    schedule=[FEATURES],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["mercato", "mlflow", "training"],
    doc_md=__doc__,
)
def mercato_train() -> None:
    collect_models.override(outlets=[MODELS])(train_all())


mercato_train()
