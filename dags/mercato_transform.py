"""
### Mercato: build and check the marts

Runs when new raw data lands (asset `mercato_raw`). `dbt build` turns the raw order lines into
staging views, intermediate steps and the mart tables (`fct_order_lines`, `dim_customers`,
`dim_products`, `customer_features`, `propensity_labels`, `product_features`) and runs their
dbt data tests; then the **Great Expectations mart gate** checks the marts.

- **Reads:** DuckDB `raw.order_lines`.
- **Writes:** DuckDB schema `main` (the marts); dbt artifacts in `$MERCATO_HOME/dbt/`; GX
  results in `$MERCATO_HOME/gx/`, failing rows in `$MERCATO_HOME/quarantine/`.
- **Emits:** asset `mercato_marts` once the gate passes, which starts `mercato_features`.
  A failed dbt test or gate stops here: nothing downstream sees bad marts.

**Rerun:** safe at any time; every model is rebuilt from `raw`, so a rerun gives the same marts.
"""

from __future__ import annotations

from airflow.sdk import dag

from dags._common import DEFAULT_ARGS, MARTS, RAW, START_DATE, dbt_build, validate_marts


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
    dbt_build() >> validate_marts.override(outlets=[MARTS])()


mercato_transform()
