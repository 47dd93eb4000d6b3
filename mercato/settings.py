"""One settings object for every stage, read from the environment when asked for.

Every path is absolute: dbt, DuckDB and Feast resolve relative paths against the working
directory, so the stages only ever see paths produced here. ``MERCATO_HOME`` chooses the data
folder; two data folders never mix because every derived path lives below it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from mercato.names import parse_extras

REPO_ROOT = Path(__file__).resolve().parents[1]

#: Environment that switches every tool's telemetry off. Applied by ``apply_runtime_env``.
TELEMETRY_OFF: dict[str, str] = {
    "DO_NOT_TRACK": "true",
    "BENTOML_DO_NOT_TRACK": "True",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "SCARF_ANALYTICS": "false",
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
    "FEAST_USAGE": "False",
    "GX_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
}

#: MLflow client limits: a stopped or frozen tracking server fails a call in about 35 s with a
#: clear connection error, instead of MLflow's default of 120 s times 7 retries.
MLFLOW_CLIENT_ENV: dict[str, str] = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
}


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _number(name: str, default: float) -> float:
    """A numeric variable; a value that is not a number is an error naming the variable."""
    raw = _env(name, str(default))
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None


def _positive_int(name: str, default: int) -> int:
    """A whole number of at least 1; anything else is an error naming the variable."""
    raw = _env(name, str(default)).strip()
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number (expected 1 or more)") from None
    if value < 1:
        raise ValueError(f"{name}={raw!r} must be 1 or more")
    return value


_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)


def _memory_limit(raw: str) -> str:
    """A DuckDB memory size such as ``2GB`` or ``512MiB``, checked here rather than by DuckDB."""
    if not _MEMORY.match(raw):
        raise ValueError(
            f"MERCATO_DUCKDB_MEMORY_LIMIT must be a size such as 2GB or 512MB, got {raw!r}"
        )
    return raw.strip()


def duckdb_config(settings: Settings) -> dict[str, str]:
    """DuckDB connection config bounding memory: the limit and the folder it spills to."""
    settings.duckdb_temp_dir.mkdir(parents=True, exist_ok=True)
    return {
        "memory_limit": settings.duckdb_memory_limit,
        "temp_directory": str(settings.duckdb_temp_dir),
    }


def _join(extras: dict[str, str]) -> str:
    return ",".join(f"{name}={module}" for name, module in extras.items())


def real_data_path() -> Path:
    """The real UCI Online Retail file: env ``MERCATO_REAL_DATA``, else the shared copy beside
    the checkout. Read when asked for, like ``get_settings()``."""
    default = REPO_ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.parquet"
    return Path(_env("MERCATO_REAL_DATA", str(default)))


@dataclass(frozen=True)
class Settings:
    """Where every stage reads and writes, and the knobs a user may turn."""

    home: Path
    #: the engine dbt builds the marts on: ``duckdb`` (embedded default) or ``spark``
    #: (dbt-spark's session method, pyspark in local mode; docs/spark.md)
    warehouse: str = "duckdb"
    online_store: str = "sqlite"
    redis_url: str = "redis://127.0.0.1:6379/0"
    mlflow_tracking_uri: str = ""
    seed: int = 42
    propensity_horizon_days: int = 30
    snapshot_every_days: int = 7
    holdout_days: int = 30
    #: churn label: no purchase within this many days of the snapshot (dbt var)
    churn_horizon_days: int = 90
    #: the last days of the data held out from the customer-value fit (dbt var)
    clv_holdout_days: int = 90
    #: customer lifetime value: the horizon it sums over and the annual discount rate
    clv_horizon_days: int = 365
    clv_discount_rate: float = 0.10
    promotion_margin: float = 0.0
    gate_confidence: float = 0.95
    gate_bootstrap_samples: int = 1000
    gate_max_champion_drop: float = 0.5
    #: the gate refuses a challenger whose largest gap between customer groups exceeds the
    #: champion's on the same hold-out by more than this (models.fairness)
    gate_max_gap_widening: float = 0.05
    #: groups with fewer hold-out units are reported but not judged by the gate
    fairness_min_group_size: int = 100
    feature_max_age_hours: float = 72.0
    serve_host: str = "127.0.0.1"
    serve_port: int = 3000
    #: worker processes of the BentoML service; each loads the champions and follows the alias
    serve_workers: int = 1
    api_key: str = ""
    #: seconds between the service's checks of the ``champion`` alias (0: never)
    model_poll_seconds: float = 30.0
    #: larger request bodies get 413
    max_body_bytes: int = 1 << 20
    #: the service's own Prometheus request metrics on ``/metrics``
    serving_metrics: bool = True
    #: where ``make airflow`` serves Airflow's UI and API
    airflow_port: int = 8080
    #: drift monitor: a feature drifts when PSI > psi_max and its KS/chi-square p < p_value
    monitor_psi_max: float = 0.25
    monitor_p_value: float = 0.01
    #: prediction drift: PSI of the champion's score distribution
    monitor_prediction_psi_max: float = 0.25
    #: hours since the marts were last rebuilt and gated (0: not checked)
    monitor_mart_max_age_hours: float = 48.0
    #: realised ROC-AUC of matured predictions below this is an alert (0: not checked)
    monitor_min_realised_auc: float = 0.55
    #: a recommender's realised NDCG below this multiple of popularity's on the same orders is
    #: an alert (0: not checked)
    monitor_min_realised_lift: float = 1.0
    #: known customers whose recommendations each monitor run keeps for the realised check
    monitor_ranked_customers: int = 5000
    #: model families and raw sources beyond Mercato's own: name -> module
    extra_families: dict[str, str] = field(default_factory=dict)
    extra_sources: dict[str, str] = field(default_factory=dict)
    #: raw files of chunkable sources with more rows than this are read and gated in chunks
    ingest_chunk_rows: int = 1_000_000
    #: DuckDB's memory_limit for landing and dbt; beyond it DuckDB spills to duckdb_temp_dir
    duckdb_memory_limit: str = "2GB"
    #: label rows a snapshot family (propensity, churn) trains and is judged on; above it, a
    #: fixed sample of customers with all their snapshots (``warehouse.reader.customer_sample``)
    train_max_rows: int = 1_000_000

    # -- folders ------------------------------------------------------------------------------
    @property
    def landing_dir(self) -> Path:
        """Incoming batch files (CSV or Parquet) waiting to be ingested."""
        return self.home / "landing"

    @property
    def archive_dir(self) -> Path:
        """Original batch files, kept byte for byte, one folder per batch id."""
        return self.home / "archive"

    @property
    def quarantine_dir(self) -> Path:
        """Rejected batches and bad rows, with a readable report beside each."""
        return self.home / "quarantine"

    @property
    def warehouse_path(self) -> Path:
        """The DuckDB file that holds raw tables and dbt's marts."""
        return self.home / "warehouse" / "mercato.duckdb"

    @property
    def duckdb_temp_dir(self) -> Path:
        """Where DuckDB spills joins and sorts that exceed ``duckdb_memory_limit``."""
        return self.home / "warehouse" / "duckdb_tmp"

    @property
    def spark_dir(self) -> Path:
        """Spark's warehouse: raw tables exported as Parquet and the marts Spark writes."""
        return self.home / "spark"

    @property
    def spark_marts_dir(self) -> Path:
        """The marts Spark writes, one Parquet folder each (its ``main`` database)."""
        return self.spark_dir / "warehouse" / "main.db"

    @property
    def dbt_project_dir(self) -> Path:
        return REPO_ROOT / "dbt_project"

    @property
    def dbt_target_dir(self) -> Path:
        return self.home / "dbt" / "target"

    @property
    def dbt_log_dir(self) -> Path:
        return self.home / "dbt" / "logs"

    @property
    def gx_dir(self) -> Path:
        """Great Expectations results and Data Docs."""
        return self.home / "gx"

    @property
    def feast_repo_dir(self) -> Path:
        return REPO_ROOT / "features"

    @property
    def feast_dir(self) -> Path:
        """Feast's registry, SQLite online store and the Parquet sources it reads."""
        return self.home / "feast"

    @property
    def feast_registry_path(self) -> Path:
        return self.feast_dir / "registry.db"

    @property
    def feast_online_path(self) -> Path:
        return self.feast_dir / "online_store.db"

    @property
    def feast_data_dir(self) -> Path:
        return self.feast_dir / "data"

    @property
    def mlflow_dir(self) -> Path:
        return self.home / "mlflow"

    @property
    def tracking_uri(self) -> str:
        """MLflow tracking and registry URI: a server URL in production, SQLite by default."""
        return self.mlflow_tracking_uri or f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @property
    def mlflow_artifacts_dir(self) -> Path:
        return self.mlflow_dir / "artifacts"

    @property
    def knowledge_dir(self) -> Path:
        """The shop's policy and FAQ pages (Markdown) the support assistant answers from."""
        return self.home / "knowledge"

    @property
    def assistant_dir(self) -> Path:
        """The support assistant's conversation log and hand-over tickets (CSV files)."""
        return self.home / "assistant"

    @property
    def run_log_dir(self) -> Path:
        """Summaries of pipeline runs (JSON), newest last."""
        return self.home / "runs"

    @property
    def monitoring_dir(self) -> Path:
        """The monitor's results, HTML reports and logged predictions."""
        return self.home / "monitoring"

    def to_env(self) -> dict[str, str]:
        """The environment under which ``get_settings()`` in a child returns these settings."""
        return {
            "MERCATO_HOME": str(self.home),
            "MERCATO_WAREHOUSE": self.warehouse,
            "MERCATO_ONLINE_STORE": self.online_store,
            "MERCATO_REDIS_URL": self.redis_url,
            "MERCATO_MLFLOW_TRACKING_URI": self.mlflow_tracking_uri,
            "MERCATO_SEED": str(self.seed),
            "MERCATO_PROPENSITY_HORIZON_DAYS": str(self.propensity_horizon_days),
            "MERCATO_SNAPSHOT_EVERY_DAYS": str(self.snapshot_every_days),
            "MERCATO_HOLDOUT_DAYS": str(self.holdout_days),
            "MERCATO_CHURN_HORIZON_DAYS": str(self.churn_horizon_days),
            "MERCATO_CLV_HOLDOUT_DAYS": str(self.clv_holdout_days),
            "MERCATO_CLV_HORIZON_DAYS": str(self.clv_horizon_days),
            "MERCATO_CLV_DISCOUNT_RATE": str(self.clv_discount_rate),
            "MERCATO_PROMOTION_MARGIN": str(self.promotion_margin),
            "MERCATO_GATE_CONFIDENCE": str(self.gate_confidence),
            "MERCATO_GATE_BOOTSTRAP_SAMPLES": str(self.gate_bootstrap_samples),
            "MERCATO_GATE_MAX_CHAMPION_DROP": str(self.gate_max_champion_drop),
            "MERCATO_GATE_MAX_GAP_WIDENING": str(self.gate_max_gap_widening),
            "MERCATO_FAIRNESS_MIN_GROUP_SIZE": str(self.fairness_min_group_size),
            "MERCATO_FEATURE_MAX_AGE_HOURS": str(self.feature_max_age_hours),
            "MERCATO_SERVE_HOST": self.serve_host,
            "MERCATO_SERVE_PORT": str(self.serve_port),
            "MERCATO_SERVE_WORKERS": str(self.serve_workers),
            "MERCATO_API_KEY": self.api_key,
            "MERCATO_MODEL_POLL_SECONDS": str(self.model_poll_seconds),
            "MERCATO_MAX_BODY_BYTES": str(self.max_body_bytes),
            "MERCATO_SERVING_METRICS": "1" if self.serving_metrics else "0",
            "MERCATO_AIRFLOW_PORT": str(self.airflow_port),
            "MERCATO_MONITOR_PSI_MAX": str(self.monitor_psi_max),
            "MERCATO_MONITOR_P_VALUE": str(self.monitor_p_value),
            "MERCATO_MONITOR_PREDICTION_PSI_MAX": str(self.monitor_prediction_psi_max),
            "MERCATO_MONITOR_MART_MAX_AGE_HOURS": str(self.monitor_mart_max_age_hours),
            "MERCATO_MONITOR_MIN_REALISED_AUC": str(self.monitor_min_realised_auc),
            "MERCATO_MONITOR_MIN_REALISED_LIFT": str(self.monitor_min_realised_lift),
            "MERCATO_MONITOR_RANKED_CUSTOMERS": str(self.monitor_ranked_customers),
            "MERCATO_INGEST_CHUNK_ROWS": str(self.ingest_chunk_rows),
            "MERCATO_DUCKDB_MEMORY_LIMIT": self.duckdb_memory_limit,
            "MERCATO_TRAIN_MAX_ROWS": str(self.train_max_rows),
            "MERCATO_EXTRA_FAMILIES": _join(self.extra_families),
            "MERCATO_EXTRA_SOURCES": _join(self.extra_sources),
            "MLFLOW_TRACKING_URI": self.tracking_uri,
        }

    def ensure_dirs(self) -> None:
        """Create the data folders; called by commands, never at import time."""
        for path in (
            self.landing_dir,
            self.archive_dir,
            self.quarantine_dir,
            self.warehouse_path.parent,
            self.duckdb_temp_dir,
            self.dbt_target_dir,
            self.dbt_log_dir,
            self.gx_dir,
            self.feast_data_dir,
            self.mlflow_artifacts_dir,
            self.run_log_dir,
        ):
            path.mkdir(parents=True, exist_ok=True)


#: the engines ``MERCATO_WAREHOUSE`` may name
WAREHOUSES = ("duckdb", "spark")


def _warehouse() -> str:
    """``MERCATO_WAREHOUSE``; an unknown engine is an error naming the variable and the choices."""
    value = _env("MERCATO_WAREHOUSE", "duckdb").strip().lower()
    if value not in WAREHOUSES:
        raise ValueError(f"MERCATO_WAREHOUSE={value!r} is not one of {', '.join(WAREHOUSES)}")
    return value


def get_settings() -> Settings:
    """Read settings from the environment now (never cached, so tests can change it)."""
    home = Path(_env("MERCATO_HOME", str(REPO_ROOT / ".mercato"))).expanduser().resolve()
    return Settings(
        home=home,
        warehouse=_warehouse(),
        online_store=_env("MERCATO_ONLINE_STORE", "sqlite").lower(),
        redis_url=_env("MERCATO_REDIS_URL", "redis://127.0.0.1:6379/0"),
        mlflow_tracking_uri=_env("MERCATO_MLFLOW_TRACKING_URI", ""),
        seed=int(_env("MERCATO_SEED", "42")),
        propensity_horizon_days=int(_env("MERCATO_PROPENSITY_HORIZON_DAYS", "30")),
        snapshot_every_days=int(_env("MERCATO_SNAPSHOT_EVERY_DAYS", "7")),
        holdout_days=int(_env("MERCATO_HOLDOUT_DAYS", "30")),
        churn_horizon_days=int(_env("MERCATO_CHURN_HORIZON_DAYS", "90")),
        clv_holdout_days=int(_env("MERCATO_CLV_HOLDOUT_DAYS", "90")),
        clv_horizon_days=int(_env("MERCATO_CLV_HORIZON_DAYS", "365")),
        clv_discount_rate=float(_env("MERCATO_CLV_DISCOUNT_RATE", "0.10")),
        promotion_margin=float(_env("MERCATO_PROMOTION_MARGIN", "0.0")),
        gate_confidence=float(_env("MERCATO_GATE_CONFIDENCE", "0.95")),
        gate_bootstrap_samples=int(_env("MERCATO_GATE_BOOTSTRAP_SAMPLES", "1000")),
        gate_max_champion_drop=float(_env("MERCATO_GATE_MAX_CHAMPION_DROP", "0.5")),
        gate_max_gap_widening=float(_env("MERCATO_GATE_MAX_GAP_WIDENING", "0.05")),
        fairness_min_group_size=int(_env("MERCATO_FAIRNESS_MIN_GROUP_SIZE", "100")),
        feature_max_age_hours=float(_env("MERCATO_FEATURE_MAX_AGE_HOURS", "72")),
        serve_host=_env("MERCATO_SERVE_HOST", "127.0.0.1"),
        serve_port=int(_env("MERCATO_SERVE_PORT", "3000")),
        serve_workers=_positive_int("MERCATO_SERVE_WORKERS", 1),
        api_key=_env("MERCATO_API_KEY", ""),
        model_poll_seconds=_number("MERCATO_MODEL_POLL_SECONDS", 30.0),
        max_body_bytes=int(_number("MERCATO_MAX_BODY_BYTES", float(1 << 20))),
        serving_metrics=_env("MERCATO_SERVING_METRICS", "1").strip().lower()
        not in ("0", "false", "no", "off"),
        airflow_port=int(_env("MERCATO_AIRFLOW_PORT", "8080")),
        monitor_psi_max=_number("MERCATO_MONITOR_PSI_MAX", 0.25),
        monitor_p_value=_number("MERCATO_MONITOR_P_VALUE", 0.01),
        monitor_prediction_psi_max=_number("MERCATO_MONITOR_PREDICTION_PSI_MAX", 0.25),
        monitor_mart_max_age_hours=_number("MERCATO_MONITOR_MART_MAX_AGE_HOURS", 48.0),
        monitor_min_realised_auc=_number("MERCATO_MONITOR_MIN_REALISED_AUC", 0.55),
        monitor_min_realised_lift=_number("MERCATO_MONITOR_MIN_REALISED_LIFT", 1.0),
        monitor_ranked_customers=int(_number("MERCATO_MONITOR_RANKED_CUSTOMERS", 5000.0)),
        ingest_chunk_rows=_positive_int("MERCATO_INGEST_CHUNK_ROWS", 1_000_000),
        duckdb_memory_limit=_memory_limit(_env("MERCATO_DUCKDB_MEMORY_LIMIT", "2GB")),
        train_max_rows=_positive_int("MERCATO_TRAIN_MAX_ROWS", 1_000_000),
        extra_families=parse_extras(_env("MERCATO_EXTRA_FAMILIES", ""), "MERCATO_EXTRA_FAMILIES"),
        extra_sources=parse_extras(_env("MERCATO_EXTRA_SOURCES", ""), "MERCATO_EXTRA_SOURCES"),
    )


def apply_runtime_env(settings: Settings | None = None) -> None:
    """Switch telemetry off and point MLflow at our store, for this process and its children."""
    for key, value in {**TELEMETRY_OFF, **MLFLOW_CLIENT_ENV}.items():
        os.environ.setdefault(key, value)
    if settings is not None:
        os.environ["MLFLOW_TRACKING_URI"] = settings.tracking_uri
