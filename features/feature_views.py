"""Feature views: named, typed groups of features over a source, served offline and online.

A feature view's ``ttl`` bounds how old a feature row may be when it is joined to a label: a
training row at time ``t`` gets the newest snapshot with ``snapshot_at <= t`` and
``snapshot_at > t - ttl``, and nothing otherwise. Snapshots come every
``snapshot_every_days`` (7 by default), so a ttl of several snapshot periods keeps labels dated
between snapshots covered without reaching back to stale behaviour.
"""

from __future__ import annotations

from datetime import timedelta

from feast import FeatureView, Field, FileSource
from feast.types import Float64, Int64, String

from features.data_sources import (
    customer_rfm_stats_source,
    product_review_stats_source,
    product_sales_stats_source,
)
from features.entities import customer, product


def customer_rfm_stats_view(source: FileSource) -> FeatureView:
    """Recency, frequency, monetary value and buying behaviour of each customer."""
    return FeatureView(
        name="customer_rfm_stats",
        entities=[customer],
        ttl=timedelta(days=35),
        schema=[
            Field(name="customer_id", dtype=String),
            Field(name="recency_days", dtype=Float64, description="Days since the last order."),
            Field(name="frequency", dtype=Int64, description="Distinct non-cancelled invoices."),
            Field(name="monetary", dtype=Float64, description="Net spend after cancellations."),
            Field(name="tenure_days", dtype=Float64, description="Days since the first order."),
            Field(name="avg_basket_value", dtype=Float64, description="Mean spend per invoice."),
            Field(name="return_rate", dtype=Float64, description="Cancelled lines / all lines."),
            Field(name="n_distinct_products", dtype=Int64, description="Distinct products bought."),
            Field(name="is_uk", dtype=Int64, description="1 if the customer is in the UK."),
        ],
        online=True,
        source=source,
        description="Customer RFM and behaviour, one row per customer and weekly snapshot.",
        tags={"owner": "mercato", "mart": "customer_features", "entity": "customer"},
    )


def product_sales_stats_view(source: FileSource) -> FeatureView:
    """How much and by how many customers each product is bought."""
    return FeatureView(
        name="product_sales_stats",
        entities=[product],
        ttl=timedelta(days=90),
        schema=[
            Field(name="stock_code", dtype=String),
            Field(name="n_buyers", dtype=Int64, description="Distinct customers who bought it."),
            Field(name="n_orders", dtype=Int64, description="Distinct invoices with it."),
            Field(name="total_quantity", dtype=Int64, description="Units sold, net."),
            Field(name="avg_unit_price", dtype=Float64, description="Mean unit price."),
        ],
        online=True,
        source=source,
        description="Product sales statistics at the latest snapshot.",
        tags={"owner": "mercato", "mart": "product_features", "entity": "product"},
    )


def product_review_stats_view(source: FileSource) -> FeatureView:
    """What each product's reviews say: how many, how they rate, the share of each sentiment.

    One row per reviewed product over all its reviews (not a weekly snapshot), stamped with the
    day after the last review; the ttl keeps a product's review standing for a year.
    """
    return FeatureView(
        name="product_review_stats",
        entities=[product],
        ttl=timedelta(days=365),
        schema=[
            Field(name="stock_code", dtype=String),
            Field(name="n_reviews", dtype=Int64, description="Valid reviews of the product."),
            Field(name="mean_rating", dtype=Float64, description="Mean stars, 1 to 5."),
            Field(name="positive_share", dtype=Float64, description="Share of 4-5 star reviews."),
            Field(name="negative_share", dtype=Float64, description="Share of 1-2 star reviews."),
            Field(
                name="rating_trend_per_30d",
                dtype=Float64,
                description="Stars gained per 30 days (null without dated reviews).",
            ),
        ],
        online=True,
        source=source,
        description="Product review statistics: count, mean rating, sentiment shares, trend.",
        tags={"owner": "mercato", "mart": "product_review_stats", "entity": "product"},
    )


customer_rfm_stats = customer_rfm_stats_view(customer_rfm_stats_source)
product_sales_stats = product_sales_stats_view(product_sales_stats_source)
product_review_stats = product_review_stats_view(product_review_stats_source)
