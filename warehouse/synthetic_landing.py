"""Synthetic batches of every built-in source, written into a landing folder together.

What ``mercato run`` generates into an empty landing folder, what ``make demo`` runs on and what
the test fixtures load: orders first, then the sources generated from those orders (reviews of
bought products, a campaign sent to those orders' customers), then browsing sessions and ad
impressions, star ratings of the orders' products by some of their customers, and support
messages quoting the orders' invoices, so the families that join sources see one shop.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from warehouse.synthetic import write_orders
from warehouse.synthetic_ads import write_impressions
from warehouse.synthetic_campaigns import order_customers, write_campaigns
from warehouse.synthetic_ratings import shop_ratings
from warehouse.synthetic_reviews import write_reviews
from warehouse.synthetic_sessions import write_sessions
from warehouse.synthetic_support import write_messages

#: the sources :func:`write_landing` writes, in order
SOURCES = ("orders", "reviews", "campaigns", "sessions", "ads", "ratings", "support")


def write_landing(
    landing_dir: Path,
    *,
    end_date: date,
    seed: int = 42,
    n_customers: int = 1000,
    n_products: int = 300,
    days: int = 365,
    review_rate: float = 0.12,
    campaign_customers: int = 12000,
    n_sessions: int = 4000,
    n_impressions: int = 12000,
    n_messages: int = 600,
) -> dict[str, Path]:
    """Write one synthetic batch per source into ``landing_dir``; returns source -> file."""
    landing_dir.mkdir(parents=True, exist_ok=True)
    orders_path = write_orders(
        landing_dir / "synthetic_orders.parquet",
        n_customers=n_customers,
        n_products=n_products,
        days=days,
        seed=seed,
        end_date=end_date,
    )
    orders = pd.read_parquet(orders_path)
    reviews_path = write_reviews(
        landing_dir / "synthetic_reviews.parquet",
        orders=orders,
        end_date=end_date,
        seed=seed,
        review_rate=review_rate,
    )
    campaigns_path = write_campaigns(
        landing_dir / "synthetic_campaigns.csv",
        end_date=end_date,
        n_customers=campaign_customers,
        customers=order_customers(orders),
        seed=seed,
    )
    sessions_path = write_sessions(
        landing_dir / "synthetic_sessions.csv", n_sessions, seed=seed, end_date=end_date
    )
    ads_path = write_impressions(
        landing_dir / "synthetic_ad_impressions.csv", n_impressions, seed=seed, end_date=end_date
    )
    ratings_path = shop_ratings(
        landing_dir / "synthetic_ratings.csv", orders, end_date=end_date, seed=seed
    )
    support_path = write_messages(
        landing_dir / "synthetic_support.csv",
        n_messages,
        seed=seed,
        end_date=end_date,
        orders=orders,
    )
    return {
        "orders": orders_path,
        "reviews": reviews_path,
        "campaigns": campaigns_path,
        "sessions": sessions_path,
        "ads": ads_path,
        "ratings": ratings_path,
        "support": support_path,
    }
