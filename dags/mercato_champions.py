"""
### Mercato: report the champions

Runs when the models are trained and gated (asset `mercato_models`). Reports the `champion`
version of each model family. The BentoML service resolves its models by the `champion` alias,
so a running service serves a new champion once it reloads; nothing is copied anywhere.

- **Reads:** MLflow registered models and their aliases in `$MERCATO_HOME/mlflow/`.
- **Writes:** nothing; the champions are in this task's return value (XCom).

**Rerun:** safe at any time; it only reads the registry.
"""

from __future__ import annotations

from airflow.sdk import dag

from dags._common import DEFAULT_ARGS, MODELS, START_DATE, champions


@dag(
    schedule=[MODELS],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["mercato", "bentoml", "champions"],
    doc_md=__doc__,
)
def mercato_champions() -> None:
    champions()


mercato_champions()
