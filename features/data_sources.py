"""Data sources: where Feast reads feature rows, one Parquet file per feature view.

The pipeline exports the dbt marts ``customer_features``, ``product_features`` and
``product_review_stats`` into
``settings.feast_data_dir`` (``features.store.export_sources``). Each row is stamped with the
``snapshot_at`` it was computed for; the marts only use events strictly before that instant, so
a row is knowable from ``snapshot_at`` on, which is what point-in-time joins rely on.

Paths must be absolute (Feast resolves relative ones against its working directory), so the
sources are built for a data folder. The module-level sources serve the ``feast`` CLI and read
``MERCATO_HOME`` like ``feature_store.yaml`` does; Python code builds its own through
``features.store`` from the settings it is given.
"""

from __future__ import annotations

from pathlib import Path

from feast import FileSource

from mercato.settings import get_settings


def source_path(view_name: str, data_dir: Path) -> Path:
    """The Parquet file that holds the rows of ``view_name``."""
    return data_dir / f"{view_name}.parquet"


def parquet_source(view_name: str, data_dir: Path, description: str = "") -> FileSource:
    """The batch source named ``<view>_source`` over the view's exported Parquet file."""
    return FileSource(
        name=f"{view_name}_source",
        path=str(source_path(view_name, data_dir)),
        timestamp_field="snapshot_at",
        description=description,
        tags={"owner": "mercato", "exported_by": "features.store.export_sources"},
    )


def customer_rfm_stats_source_in(data_dir: Path) -> FileSource:
    return parquet_source(
        "customer_rfm_stats", data_dir, "Mart main.customer_features: one row per snapshot."
    )


def product_sales_stats_source_in(data_dir: Path) -> FileSource:
    return parquet_source(
        "product_sales_stats", data_dir, "Mart main.product_features: one row per snapshot."
    )


def product_review_stats_source_in(data_dir: Path) -> FileSource:
    return parquet_source(
        "product_review_stats",
        data_dir,
        "Mart main.product_review_stats: one row per reviewed product, as of the last review.",
    )


customer_rfm_stats_source = customer_rfm_stats_source_in(get_settings().feast_data_dir)
product_sales_stats_source = product_sales_stats_source_in(get_settings().feast_data_dir)
product_review_stats_source = product_review_stats_source_in(get_settings().feast_data_dir)
