#!/usr/bin/env bash
# Create Airflow's and MLflow's databases, each owned by its own login role, and let no other
# role connect to them. Mounted into the postgres container's /docker-entrypoint-initdb.d (runs
# once, on an empty volume) and run by devtools.stack against a local server. Idempotent: running
# it again only resets the two passwords.
#
# Reads: POSTGRES_USER, POSTGRES_DB (superuser connection; PGHOST/PGPORT/PGPASSWORD if set),
#        AIRFLOW_DB_PASSWORD, MLFLOW_DB_PASSWORD.
set -euo pipefail

: "${AIRFLOW_DB_PASSWORD:?AIRFLOW_DB_PASSWORD must be set}"
: "${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD must be set}"

# Passwords travel as psql variables and are quoted by psql (:'var'), never spliced into SQL.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" \
    --dbname "${POSTGRES_DB:-postgres}" \
    -v airflow_password="$AIRFLOW_DB_PASSWORD" \
    -v mlflow_password="$MLFLOW_DB_PASSWORD" <<'SQL'
SELECT 'CREATE ROLE airflow LOGIN'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'airflow')\gexec
SELECT 'CREATE ROLE mlflow LOGIN'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mlflow')\gexec
ALTER ROLE airflow WITH LOGIN PASSWORD :'airflow_password';
ALTER ROLE mlflow WITH LOGIN PASSWORD :'mlflow_password';

SELECT 'CREATE DATABASE airflow OWNER airflow ENCODING ''UTF8'''
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'airflow')\gexec
SELECT 'CREATE DATABASE mlflow OWNER mlflow ENCODING ''UTF8'''
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mlflow')\gexec

REVOKE ALL ON DATABASE airflow FROM PUBLIC;
REVOKE ALL ON DATABASE mlflow FROM PUBLIC;
GRANT ALL ON DATABASE airflow TO airflow;
GRANT ALL ON DATABASE mlflow TO mlflow;
SQL
echo "init-databases: databases airflow and mlflow ready"
