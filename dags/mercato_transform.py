"""
### Mercato: build and check the marts

Runs when new raw data lands (asset `mercato_raw`). dbt builds the warehouse layer by layer, one
task each, every layer with its dbt data and unit tests (`dbt build --select <layer>`):

1. **`dbt_staging`**: the staging views that clean and type `raw.order_lines`, and the tests of
   the raw sources.
2. **`dbt_intermediate`**: the intermediate views (filtered order lines, snapshot dates).
3. **`dbt_marts`**: the mart tables (`fct_order_lines`, `dim_customers`, `dim_products`,
   `customer_item_interactions`, `customer_features`, `propensity_labels`,
   `product_features`); returns every table's row count and writes dbt's docs.

Then the **Great Expectations mart gate** (`validate`) checks the marts.

- **Reads:** DuckDB `raw.order_lines`.
- **Writes:** DuckDB schema `main` (views and marts); dbt artifacts and docs in
  `$MERCATO_HOME/dbt/`; GX results in `$MERCATO_HOME/gx/`, failing rows in
  `$MERCATO_HOME/quarantine/`.
- **Emits:** asset `mercato_marts` once the gate passes, which starts `mercato_features`.
  A failed dbt test or gate stops here: nothing downstream sees bad marts.

**Rerun:** safe at any time; every model is rebuilt from `raw`, so a rerun gives the same marts.
After a fix, clear the failed task and its downstream: the layers before it stay as built.
"""

from __future__ import annotations

from airflow.sdk import chain, dag

from dags._common import DEFAULT_ARGS, MARTS, RAW, START_DATE, dbt_layers, validate


@dag(
    schedule=[RAW],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["mercato", "dbt", "great-expectations"],
    doc_md=__doc__,
)
def mercato_transform() -> None:
    chain(*dbt_layers(), validate.override(outlets=[MARTS])())


mercato_transform()
