"""
### Mercato: materialize features

Runs when validated marts are ready (asset `mercato_marts`). Exports the feature marts to
Parquet sources, applies the Feast definitions (entities `customer` and `product`, feature
views `customer_rfm_stats` and `product_sales_stats`) and materializes the online store.

- **Reads:** DuckDB marts `customer_features` and `product_features`.
- **Writes:** `$MERCATO_HOME/feast/` (Parquet sources, registry, online store).
- **Emits:** asset `mercato_features`, which starts `mercato_train`.

**Rerun:** safe at any time; the sources are rewritten and the same window is materialized again.
"""

from __future__ import annotations

from airflow.sdk import dag

from dags._common import DEFAULT_ARGS, FEATURES, MARTS, START_DATE, features


@dag(
    schedule=[MARTS],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["mercato", "feast"],
    doc_md=__doc__,
)
def mercato_features() -> None:
    features.override(outlets=[FEATURES])()


mercato_features()
