"""
### Mercato: ingest new order batches

Loads every new batch file (CSV or Parquet, UCI Online Retail schema) waiting in the landing
folder into the DuckDB warehouse, after the **Great Expectations raw gate** has checked it.

- **Reads:** `$MERCATO_HOME/landing/` (or the one file given in the `data` parameter).
- **Writes:** DuckDB `raw.order_lines` and `raw.batches`; the original file goes to
  `$MERCATO_HOME/archive/<batch_id>/`. A batch the gate rejects goes to
  `$MERCATO_HOME/quarantine/` with a report and none of its rows in the warehouse; the other
  files are still loaded, then the task **fails without retry**, naming every rejected file: fix
  it and drop it in the landing folder again (the next run builds on everything loaded).
- **Emits:** asset `mercato_raw`, which starts `mercato_transform` and so the rest of the chain.
- **Schedule:** daily, so files dropped in the landing folder are picked up without anyone
  triggering anything; on a day without new data the chain still refreshes features and models.

**Rerun:** safe at any time. A batch id is the hash of the file's bytes, so a file already
loaded is never loaded twice; clear the task or trigger the DAG again.
"""

from __future__ import annotations

from airflow.sdk import dag

from dags._common import DATA_PARAM, DEFAULT_ARGS, RAW, START_DATE, ingest


@dag(
    schedule="@daily",
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={"data": DATA_PARAM},
    tags=["mercato", "ingest", "great-expectations"],
    doc_md=__doc__,
)
def mercato_ingest() -> None:
    ingest.override(outlets=[RAW])()


mercato_ingest()
