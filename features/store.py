"""Offline side of the feature store: export the marts, register definitions, fill the online
store, and build point-in-time correct training sets.

The pipeline calls these in order: ``export_sources`` (marts -> Parquet), ``apply`` (definitions
-> registry), ``materialize`` (Parquet -> online store); the model code calls
``get_training_set``. Every path and store comes from the ``Settings`` passed in; Feast is
imported inside the functions so importing this module stays cheap.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features import (
    CUSTOMER_FEATURES,
    CUSTOMER_VIEW,
    FEATURE_SERVICES,
    PRODUCT_REVIEW_VIEW,
    PRODUCT_VIEW,
)
from mercato.settings import Settings

if TYPE_CHECKING:
    import pandas as pd
    from feast import FeatureStore

#: Mart exported for each feature view: (table in schema main, join key, {column: SQL type}).
EXPORTS: dict[str, tuple[str, str, dict[str, str]]] = {
    CUSTOMER_VIEW: (
        "customer_features",
        "customer_id",
        {
            "recency_days": "DOUBLE",
            "frequency": "BIGINT",
            "monetary": "DOUBLE",
            "tenure_days": "DOUBLE",
            "avg_basket_value": "DOUBLE",
            "return_rate": "DOUBLE",
            "n_distinct_products": "BIGINT",
            "is_uk": "BIGINT",
        },
    ),
    PRODUCT_VIEW: (
        "product_features",
        "stock_code",
        {
            "n_buyers": "BIGINT",
            "n_orders": "BIGINT",
            "total_quantity": "BIGINT",
            "avg_unit_price": "DOUBLE",
        },
    ),
    PRODUCT_REVIEW_VIEW: (
        "product_review_stats",
        "stock_code",
        {
            "n_reviews": "BIGINT",
            "mean_rating": "DOUBLE",
            "positive_share": "DOUBLE",
            "negative_share": "DOUBLE",
            "rating_trend_per_30d": "DOUBLE",
        },
    ),
}
#: The mart's column for a view's join key where it is named otherwise: a reviewed product's
#: ``product_id`` is the catalogue's ``stock_code`` when the shop's reviews and orders agree.
MART_KEYS: dict[str, str] = {PRODUCT_REVIEW_VIEW: "product_id"}
#: The ``snapshot_at`` column of marts that are not snapshots: ``product_review_stats`` sums
#: every review, as of its ``stats_as_of``.
SNAPSHOTS: dict[str, str] = {PRODUCT_REVIEW_VIEW: "stats_as_of"}

_ROW_ORDER = "mercato_entity_row"


def source_file(settings: Settings, view_name: str) -> Path:
    """The Parquet file ``export_sources`` writes for ``view_name``."""
    return settings.feast_data_dir / f"{view_name}.parquet"


def export_sources(settings: Settings) -> dict[str, int]:
    """Copy the marts into one Parquet file per feature view; returns rows written per view.

    Reads ``main.customer_features`` and ``main.product_features`` from the warehouse read-only,
    casts every column to the type the feature views declare and stamps ``snapshot_at`` as UTC.
    Each file is replaced atomically, so a concurrent reader sees the old or the new export.
    """
    from warehouse import reader

    if not settings.warehouse_path.is_file():
        raise FileNotFoundError(
            f"warehouse not found at {settings.warehouse_path}: run the dbt stage first"
        )
    settings.feast_data_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    # on Spark a mart of a source it leaves out is not built: its view is exported empty, as
    # DuckDB exports the empty mart of a source that has sent nothing
    unbuilt = reader.unbuilt_marts(settings)
    with reader.connect(settings) as con:
        _check_marts(con, settings, unbuilt)
        for view_name, (mart, key, columns) in EXPORTS.items():
            snapshot = SNAPSHOTS.get(view_name, "snapshot_at")
            relation = f"main.{mart}"
            if mart in unbuilt:
                names = [MART_KEYS.get(view_name, key), snapshot, *columns]
                relation = f"(select {', '.join(f'null as {n}' for n in names)} limit 0)"
            select = ",\n".join(
                [
                    f"CAST({MART_KEYS.get(view_name, key)} AS VARCHAR) AS {key}",
                    f"timezone('UTC', CAST({snapshot} AS TIMESTAMP)) AS snapshot_at",
                    *(
                        f"CAST({name} AS {sql_type}) AS {name}"
                        for name, sql_type in columns.items()
                    ),
                ]
            )
            target = source_file(settings, view_name)
            tmp = target.with_suffix(".parquet.tmp")
            quoted = str(tmp).replace("'", "''")
            con.execute(
                f"COPY (SELECT {select} FROM {relation} ORDER BY 2, 1) "
                f"TO '{quoted}' (FORMAT parquet)"
            )
            os.replace(tmp, target)
            row = con.execute(f"SELECT count(*) FROM {relation}").fetchone()
            counts[view_name] = int(row[0]) if row else 0
    return counts


def _check_marts(con: Any, settings: Settings, unbuilt: set[str]) -> None:
    """Fail with one message naming every missing mart or column, before writing anything
    (``unbuilt``: marts the engine does not build, exported empty)."""
    problems = []
    for view_name, (mart, key, columns) in EXPORTS.items():
        if mart in unbuilt:
            continue
        needed = [MART_KEYS.get(view_name, key), SNAPSHOTS.get(view_name, "snapshot_at")]
        needed += list(columns)
        found = {
            row[0]
            for row in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'main' AND table_name = ?",
                [mart],
            ).fetchall()
        }
        if not found:
            problems.append(f"mart main.{mart} is missing")
        elif missing := [c for c in needed if c not in found]:
            problems.append(f"mart main.{mart} lacks column(s) {', '.join(missing)}")
    if problems:
        raise LookupError(
            f"cannot export features from {settings.warehouse_path}: {'; '.join(problems)} "
            "(run dbt build first; columns are listed in docs/architecture.md section 2)"
        )


def definitions(settings: Settings) -> list[Any]:
    """Every Feast object of the repo, with sources reading ``settings.feast_data_dir``."""
    from features.data_sources import (
        customer_rfm_stats_source_in,
        product_review_stats_source_in,
        product_sales_stats_source_in,
    )
    from features.entities import customer, product, project
    from features.feature_services import feature_service
    from features.feature_views import (
        customer_rfm_stats_view,
        product_review_stats_view,
        product_sales_stats_view,
    )

    customer_source = customer_rfm_stats_source_in(settings.feast_data_dir)
    product_source = product_sales_stats_source_in(settings.feast_data_dir)
    review_source = product_review_stats_source_in(settings.feast_data_dir)
    customer_view = customer_rfm_stats_view(customer_source)
    product_view = product_sales_stats_view(product_source)
    review_view = product_review_stats_view(review_source)
    services = [feature_service(name, customer_view) for name in FEATURE_SERVICES]
    return [
        project,
        customer,
        product,
        customer_source,
        product_source,
        review_source,
        customer_view,
        product_view,
        review_view,
        *services,
    ]


def feature_store(settings: Settings) -> FeatureStore:
    """A FeatureStore configured from ``settings`` (no feature_store.yaml, no cwd)."""
    from feast import FeatureStore

    from features.config import repo_config

    settings.feast_dir.mkdir(parents=True, exist_ok=True)
    return FeatureStore(repo_path=str(settings.feast_dir), config=repo_config(settings))


def apply(settings: Settings) -> None:
    """Register the definitions and create the online tables; safe to repeat."""
    feature_store(settings).apply(definitions(settings))


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def data_window(settings: Settings) -> tuple[datetime, datetime]:
    """First and last ``snapshot_at`` across the exported sources (UTC)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    bounds: list[datetime] = []
    for view_name in EXPORTS:
        path = source_file(settings, view_name)
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: run features.store.export_sources first")
        column = pq.read_table(path, columns=["snapshot_at"]).column("snapshot_at")
        if len(column):
            low, high = pc.min_max(column).values()
            bounds += [_as_utc(low.as_py()), _as_utc(high.as_py())]
    if not bounds:
        raise ValueError(f"the exported sources in {settings.feast_data_dir} hold no rows")
    return min(bounds), max(bounds)


def materialize(
    settings: Settings, start: datetime | None = None, end: datetime | None = None
) -> dict[str, Any]:
    """Load the newest row per entity with ``start <= snapshot_at <= end`` into the online store.

    Without ``start``/``end`` the window covers all exported data. Naive datetimes are UTC.
    Idempotent: the same window gives the same online state, and an older window never replaces
    newer online values (Redis by design, SQLite through ``MonotonicSqliteOnlineStore``).
    Records the run under ``settings.feast_dir/freshness`` for the online staleness check and
    returns that record.
    """
    from features.freshness import record_materialization

    first, last = data_window(settings)
    start = _as_utc(start) if start is not None else first
    end = _as_utc(end) if end is not None else last
    if start > end:
        raise ValueError(f"materialization window is empty: start {start} > end {end}")
    store = feature_store(settings)
    store.materialize(start_date=start, end_date=end, feature_views=list(EXPORTS))
    record = {
        "materialized_at": datetime.now(UTC).isoformat(),
        "start": start.isoformat(),
        "end": end.isoformat(),
        "online_store": settings.online_store,
        "feature_views": list(EXPORTS),
    }
    record_materialization(settings, record)
    return record


def get_training_set(
    settings: Settings, entity_df: pd.DataFrame, feature_service: str
) -> pd.DataFrame:
    """Point-in-time join of ``feature_service``'s features onto ``entity_df``.

    ``entity_df`` needs ``customer_id`` and ``event_timestamp`` (naive means UTC); other columns
    (labels, snapshot ids) are kept. Each row gets the newest feature snapshot with
    ``snapshot_at <= event_timestamp`` within the view's ttl, or nulls if there is none; as the
    marts only use events before ``snapshot_at``, no feature reflects anything after the label's
    time. Rows come back in ``entity_df``'s order, the feature columns after its own columns.
    """
    import pandas as pd

    missing = {"customer_id", "event_timestamp"} - set(entity_df.columns)
    if missing:
        raise ValueError(f"entity_df lacks column(s) {sorted(missing)}")
    if feature_service not in FEATURE_SERVICES:
        raise KeyError(
            f"unknown feature service {feature_service!r}; known: {list(FEATURE_SERVICES)}"
        )
    entities = entity_df.copy()
    entities["customer_id"] = entities["customer_id"].astype(str)
    timestamps = pd.to_datetime(entities["event_timestamp"])
    entities["event_timestamp"] = (
        timestamps.dt.tz_localize("UTC")
        if timestamps.dt.tz is None
        else timestamps.dt.tz_convert("UTC")
    )
    entities[_ROW_ORDER] = range(len(entities))

    store = feature_store(settings)
    job = store.get_historical_features(
        entity_df=entities, features=store.get_feature_service(feature_service)
    )
    result = job.to_df()
    if len(result) != len(entities):
        raise RuntimeError(
            f"point-in-time join returned {len(result)} rows for {len(entities)} entity rows"
        )
    features = [name for name in CUSTOMER_FEATURES if name in FEATURE_SERVICES[feature_service]]
    result = result.sort_values(_ROW_ORDER, kind="stable").reset_index(drop=True)
    return result[[*entity_df.columns, *features]]


def labelled_training_set(
    settings: Settings, labels: str, columns: str, feature_service: str
) -> pd.DataFrame:
    """A snapshot family's training set: ``columns`` of label mart ``labels`` (one row per
    customer and ``snapshot_at``), point-in-time joined with ``feature_service``.

    Above ``settings.train_max_rows`` label rows, a fixed sample of whole customers
    (:func:`warehouse.reader.customer_sample`), chosen before the join; ``attrs
    ["customer_share"]`` says how many were kept (1.0: all).
    """
    from warehouse import reader

    where, share = reader.customer_sample(settings, labels, settings.train_max_rows)
    entities = reader.query(
        settings,
        f"select {columns} from {labels} where {where} order by snapshot_at, customer_id",
    )
    data = get_training_set(settings, entities, feature_service)
    data.attrs["customer_share"] = share
    return data
