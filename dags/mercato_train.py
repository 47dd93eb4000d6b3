"""
### Mercato: train, evaluate and gate every model family

Runs when fresh features are materialized (asset `mercato_features`). One task per model family
runs side by side (the families are listed below, from `mercato.names`). Each builds
its training data, trains, evaluates on the hold-out, registers a new MLflow version with alias
`challenger`, and applies the **promotion gate**: `champion` moves only when the challenger wins
on the same hold-out by the promotion margin (the decision is recorded as version tags).

- **Reads:** DuckDB marts and the Feast offline store.
- **Writes:** MLflow runs and one registered model per family (`mercato_<family>`, the
  recommender's is `mercato_recommender`) in `$MERCATO_HOME/mlflow/`.
- **Emits:** asset `mercato_models` when every family is done, which starts `mercato_champions`.

**Rerun:** safe; clear one `train_<family>` task to retrain only that family. Training is
seeded, and a retried task (even one killed mid-run) leaves no half-written model version.
"""

from __future__ import annotations

from airflow.sdk import dag

from dags._common import DEFAULT_ARGS, FEATURES, MODELS, START_DATE, collect_models, train_all
from mercato.names import family_names

DOC = __doc__ + "\n**Families:** " + ", ".join(f"`train_{n}`" for n in family_names()) + "\n"


@dag(
    schedule=[FEATURES],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["mercato", "mlflow", "training"],
    doc_md=DOC,
)
def mercato_train() -> None:
    collect_models.override(outlets=[MODELS])(train_all())


mercato_train()
