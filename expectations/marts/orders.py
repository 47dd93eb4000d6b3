"""Mart suites of the marts built from the orders source (``dbt_project/models/marts/``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from expectations.marts import MartSuite


def _positive(column: str, strict: bool = False, **kw: Any) -> Any:
    import great_expectations as gx

    return gx.expectations.ExpectColumnValuesToBeBetween(
        column=column,
        min_value=0,
        strict_min=strict,
        description=f"{column} {'> 0' if strict else '>= 0'}",
        meta={"explain": f"{column} must be {'positive' if strict else 'non-negative'}"},
        **kw,
    )


def _fct_order_lines(now: datetime) -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    latest = now + timedelta(days=1)
    return [
        e.ExpectColumnValuesToBeUnique(
            column="order_line_id",
            description="order_line_id is unique",
            meta={"explain": "two lines share an id"},
        ),
        _positive("unit_price", strict=True),
        e.ExpectColumnValuesToNotBeInSet(
            column="quantity",
            value_set=[0],
            description="quantity is not 0",
            meta={"explain": "lines with zero quantity should have been filtered out"},
        ),
        e.ExpectColumnValuesToBeBetween(
            column="ordered_at",
            max_value=latest,
            description="ordered_at is not in the future",
            meta={"explain": "orders dated after tomorrow"},
        ),
        e.ExpectColumnValuesToBeInSet(
            column="is_cancellation",
            value_set=[True, False],
            description="is_cancellation is true or false",
            meta={"explain": "is_cancellation must be a filled flag"},
        ),
    ]


def _dim_customers(now: datetime) -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectColumnValuesToBeUnique(
            column="customer_id",
            description="customer_id is unique",
            meta={"explain": "a customer appears twice"},
        ),
        _positive("n_orders"),
        e.ExpectColumnValuesToBeBetween(
            column="monetary",
            min_value=0,
            mostly=0.95,
            description="monetary >= 0 for 95% of customers",
            meta={
                "explain": "too many customers have returned more than they bought "
                "(a few do: returns of purchases made before the data starts)"
            },
        ),
    ]


def _dim_products(now: datetime) -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectColumnValuesToBeUnique(
            column="stock_code",
            description="stock_code is unique",
            meta={"explain": "a product appears twice"},
        ),
        _positive("median_unit_price", strict=True),
        _positive("n_customers"),
    ]


def _customer_item_interactions(now: datetime) -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectCompoundColumnsToBeUnique(
            column_list=["customer_id", "stock_code"],
            description="(customer_id, stock_code) is unique",
            meta={"explain": "a customer-product pair appears twice"},
        ),
        e.ExpectColumnValuesToBeBetween(
            column="n_orders",
            min_value=1,
            description="n_orders >= 1",
            meta={"explain": "every interaction is at least one purchase"},
        ),
    ]


def _customer_features(now: datetime) -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectCompoundColumnsToBeUnique(
            column_list=["customer_id", "snapshot_at"],
            description="(customer_id, snapshot_at) is unique",
            meta={"explain": "a customer has two rows for one snapshot"},
        ),
        _positive("recency_days", strict=True),
        e.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="tenure_days",
            column_B="recency_days",
            or_equal=True,
            description="recency_days <= tenure_days",
            meta={"explain": "the last order cannot be before the first one"},
        ),
        e.ExpectColumnValuesToBeBetween(
            column="return_rate",
            min_value=0,
            max_value=1,
            description="return_rate in [0, 1]",
            meta={"explain": "return_rate is a share of lines"},
        ),
        _positive("frequency"),
        _positive("avg_basket_value"),
        _positive("n_distinct_products"),
        e.ExpectColumnValuesToBeInSet(
            column="is_uk",
            value_set=[0, 1],
            description="is_uk is 0 or 1",
            meta={"explain": "is_uk is a 0/1 flag"},
        ),
        e.ExpectColumnValuesToBeBetween(
            column="monetary",
            min_value=0,
            mostly=0.95,
            description="monetary >= 0 for 95% of rows",
            meta={"explain": "too many customers net negative (more returns than purchases)"},
        ),
        e.ExpectColumnMeanToBeBetween(
            column="return_rate",
            max_value=0.5,
            severity="warning",
            description="mean return_rate at most 0.5",
            meta={"explain": "more than half of all lines are cancellations"},
        ),
    ]


def _propensity_labels(now: datetime) -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectColumnValuesToBeInSet(
            column="label",
            value_set=[0, 1],
            description="label is 0 or 1",
            meta={"explain": "labels must be binary"},
        ),
        e.ExpectColumnMeanToBeBetween(
            column="label",
            min_value=0.01,
            max_value=0.99,
            description="both label classes present (1%-99% positive)",
            meta={"explain": "a propensity model needs buyers and non-buyers"},
        ),
    ]


def _product_features(now: datetime) -> list[Any]:
    import great_expectations as gx

    e = gx.expectations
    return [
        e.ExpectCompoundColumnsToBeUnique(
            column_list=["stock_code", "snapshot_at"],
            description="(stock_code, snapshot_at) is unique",
            meta={"explain": "a product has two rows for one snapshot"},
        ),
        _positive("n_buyers"),
        _positive("avg_unit_price", strict=True),
    ]


SUITES = [
    MartSuite("fct_order_lines", _fct_order_lines),
    MartSuite("dim_customers", _dim_customers),
    MartSuite("dim_products", _dim_products),
    MartSuite("customer_item_interactions", _customer_item_interactions),
    MartSuite("customer_features", _customer_features),
    MartSuite("propensity_labels", _propensity_labels),
    MartSuite("product_features", _product_features),
]
