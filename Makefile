# Mercato: `make demo` runs everything end to end, `make test` runs the tests.
# Each target installs what it needs: a pinned uv in .tools/, then the locked environment in .venv/.

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
PY := .venv/bin/python

export UV_COMPILE_BYTECODE := 1
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)
export DO_NOT_TRACK := true
export BENTOML_DO_NOT_TRACK := True
export DBT_SEND_ANONYMOUS_USAGE_STATS := False
export MLFLOW_DISABLE_TELEMETRY := true
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False
export SCARF_ANALYTICS := false

.PHONY: install demo test test-unit test-random audit lint format airflow airflow-celery airflow-stop serve bench clean

install: .venv/.installed

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

.venv/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet
	@touch $@

demo: install  ## install, generate data, run every stage, serve and show answers
	$(PY) -m pipeline.demo

test: install  ## install and run the whole test suite
	$(PY) -m devtools.servers ensure
	$(PY) -m pytest

test-unit: install  ## the fast tests only (tests/unit: no servers, no pipeline runs; seconds)
	$(PY) -m pytest tests/unit -q

test-random: install  ## the whole suite in a random order (SEED=N to repeat one)
	$(PY) -m devtools.servers ensure
	$(PY) -m pytest -p randomly -p no:cacheprovider $(if $(SEED),--randomly-seed=$(SEED))

audit: install  ## check every locked version against the offline advisory snapshot
	$(PY) -m devtools.audit_lock

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: install
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

serve: install  ## serve the champions on 127.0.0.1 (MERCATO_SERVE_PORT, default 3000)
	.venv/bin/mercato serve

airflow: install  ## start Airflow (api-server, scheduler, dag-processor) on 127.0.0.1
	$(PY) -m devtools.airflow_local start

airflow-celery: install  ## the same on the CeleryExecutor: PostgreSQL, Redis, 2 workers, Flower
	$(PY) -m devtools.servers ensure
	$(PY) -m devtools.airflow_local start --executor celery

airflow-stop:
	$(PY) -m devtools.airflow_local stop

bench: install  ## print the benchmark figures recorded in the README
	$(PY) bench/run_all.py

clean:  ## remove the default data folder (.mercato/)
	rm -rf .mercato
