#!/usr/bin/env bash
# One-shot initialisation of the stack, run by the compose service `init` before any long-running
# service starts (and by tests/stack against local servers). Idempotent: safe on every `up`.
#
#   1. Mercato's data folders below MERCATO_HOME (shared volume of scheduler and BentoML).
#   2. Airflow's metadata database: `airflow db migrate`, and the DAGs' `mercato_duckdb` pool.
#   3. MLflow's backend database: `mlflow db upgrade` (creates the tables on an empty database).
#   4. The Airflow admin user's password for SimpleAuthManager, from the env file: the auth
#      manager never generates (and never prints) one.
set -euo pipefail

: "${MERCATO_HOME:?}" "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:?}" "${MLFLOW_BACKEND_STORE_URI:?}"
: "${AIRFLOW_ADMIN_USER:?}" "${AIRFLOW_ADMIN_PASSWORD:?}"
: "${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:?}"

echo "init: data folders in ${MERCATO_HOME}"
python -c "from mercato.settings import get_settings; get_settings().ensure_dirs()"

echo "init: migrating Airflow's metadata database"
airflow db migrate

echo "init: pool mercato_duckdb (one slot: DuckDB allows one writer process)"
airflow pools set mercato_duckdb 1 "One slot: one writer of the DuckDB warehouse"

echo "init: migrating MLflow's backend database"
mlflow db upgrade "${MLFLOW_BACKEND_STORE_URI}"

echo "init: Airflow admin user '${AIRFLOW_ADMIN_USER}'"
python - <<'PY'
import json
import os
from pathlib import Path

path = Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
path.parent.mkdir(parents=True, exist_ok=True)
tmp = path.with_suffix(".tmp")
tmp.touch(mode=0o600)
tmp.write_text(json.dumps({os.environ["AIRFLOW_ADMIN_USER"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}))
tmp.replace(path)
PY

touch "${MERCATO_HOME}/.stack-initialized"
echo "init: done"
