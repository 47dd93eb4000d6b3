"""Feast feature repository: the features models train on and services read.

The definition modules (``entities``, ``data_sources``, ``feature_views``,
``feature_services``) are a Feast repo after feast-dev's ``templates/local/feature_repo``; the
``feast`` CLI reads them with ``feature_store.yaml``. Python code goes through
``features.store`` (export, apply, materialize, training sets) and ``features.online`` (serving
reads), which build the same configuration from ``mercato.settings`` and never depend on the
working directory.

This module stays light: it names the features and imports nothing heavy, so the DAGs, the CLI
and the models can refer to feature names without importing Feast.
"""

from __future__ import annotations

#: Customer features in the order models see them (``customer_rfm_stats`` view, mart
#: ``customer_features``); the propensity model uses all of them.
CUSTOMER_FEATURES: list[str] = [
    "recency_days",
    "frequency",
    "monetary",
    "tenure_days",
    "avg_basket_value",
    "return_rate",
    "n_distinct_products",
    "is_uk",
]

#: Behavioural features the segmentation model clusters on: the customer features without the
#: country flag, which says where a customer lives rather than how they buy.
SEGMENTATION_FEATURES: list[str] = [name for name in CUSTOMER_FEATURES if name != "is_uk"]

#: Product features (``product_sales_stats`` view, mart ``product_features``).
PRODUCT_FEATURES: list[str] = ["n_buyers", "n_orders", "total_quantity", "avg_unit_price"]

#: Product review features (``product_review_stats`` view, mart ``product_review_stats``):
#: what a product's reviews say, keyed by the catalogue's stock code.
PRODUCT_REVIEW_FEATURES: list[str] = [
    "n_reviews",
    "mean_rating",
    "positive_share",
    "negative_share",
    "rating_trend_per_30d",
]

#: Feature view names, after the marts they are exported from.
CUSTOMER_VIEW = "customer_rfm_stats"
PRODUCT_VIEW = "product_sales_stats"
PRODUCT_REVIEW_VIEW = "product_review_stats"

#: Versioned feature services, one per model, and the customer features each one serves.
FEATURE_SERVICES: dict[str, list[str]] = {
    "segmentation_v1": SEGMENTATION_FEATURES,
    "propensity_v1": CUSTOMER_FEATURES,
    "churn_v1": CUSTOMER_FEATURES,
}

__all__ = [
    "CUSTOMER_FEATURES",
    "CUSTOMER_VIEW",
    "FEATURE_SERVICES",
    "PRODUCT_FEATURES",
    "PRODUCT_REVIEW_FEATURES",
    "PRODUCT_REVIEW_VIEW",
    "PRODUCT_VIEW",
    "SEGMENTATION_FEATURES",
]
