"""The mart gate: GX suites over the dbt marts, run after every build and before Feast reads them.

One suite per mart, named after it. dbt's own data tests already hold keys and relationships;
these suites add what dbt does not: distributions (non-negative monetary, recency within the
data's span, a label rate that leaves both classes), and a row count that may not drop by more
than :data:`MAX_ROW_DROP` since the last run that passed (marts grow with every batch; a shrink
means lost data). Suites run on pandas frames (see ``expectations.context``).

:func:`check_marts` is a pure check; the ``validate`` stage (``pipeline.stages``) reads the
marts, keeps the row counts of passing runs, and on a critical failure writes the failing rows
and a report to ``quarantine/marts-<time>/`` and raises :class:`expectations.GateFailed`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from expectations import GateResult
from mercato.settings import Settings

if TYPE_CHECKING:
    import pandas as pd

MART_TABLES = [
    "fct_order_lines",
    "dim_customers",
    "dim_products",
    "customer_item_interactions",
    "customer_features",
    "propensity_labels",
    "product_features",
]

#: A mart may shrink by at most this fraction between two validated runs.
MAX_ROW_DROP = 0.10


def mart_expectations(table: str, previous_rows: int | None, now: datetime) -> list[Any]:
    """The suite for one mart (critical unless marked ``warning``)."""
    import great_expectations as gx

    e = gx.expectations
    checks: list[Any] = []
    if previous_rows:
        floor = math.floor(previous_rows * (1 - MAX_ROW_DROP))
        checks.append(
            e.ExpectTableRowCountToBeBetween(
                min_value=floor,
                description=f"{table} keeps at least {floor} rows",
                meta={
                    "explain": f"the row count dropped more than {MAX_ROW_DROP:.0%} below the "
                    f"last validated run ({previous_rows} rows)"
                },
            )
        )
    else:
        checks.append(
            e.ExpectTableRowCountToBeBetween(
                min_value=1,
                description=f"{table} is not empty",
                meta={"explain": "the mart has no rows"},
            )
        )

    def positive(column: str, strict: bool = False, **kw: Any) -> Any:
        return e.ExpectColumnValuesToBeBetween(
            column=column,
            min_value=0,
            strict_min=strict,
            description=f"{column} {'> 0' if strict else '>= 0'}",
            meta={"explain": f"{column} must be {'positive' if strict else 'non-negative'}"},
            **kw,
        )

    latest = now + timedelta(days=1)
    if table == "fct_order_lines":
        checks += [
            e.ExpectColumnValuesToBeUnique(
                column="order_line_id",
                description="order_line_id is unique",
                meta={"explain": "two lines share an id"},
            ),
            positive("unit_price", strict=True),
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
    elif table == "dim_customers":
        checks += [
            e.ExpectColumnValuesToBeUnique(
                column="customer_id",
                description="customer_id is unique",
                meta={"explain": "a customer appears twice"},
            ),
            positive("n_orders"),
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
    elif table == "dim_products":
        checks += [
            e.ExpectColumnValuesToBeUnique(
                column="stock_code",
                description="stock_code is unique",
                meta={"explain": "a product appears twice"},
            ),
            positive("median_unit_price", strict=True),
            positive("n_customers"),
        ]
    elif table == "customer_item_interactions":
        checks += [
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
    elif table == "customer_features":
        checks += [
            e.ExpectCompoundColumnsToBeUnique(
                column_list=["customer_id", "snapshot_at"],
                description="(customer_id, snapshot_at) is unique",
                meta={"explain": "a customer has two rows for one snapshot"},
            ),
            positive("recency_days", strict=True),
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
            positive("frequency"),
            positive("avg_basket_value"),
            positive("n_distinct_products"),
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
    elif table == "propensity_labels":
        checks += [
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
    elif table == "product_features":
        checks += [
            e.ExpectCompoundColumnsToBeUnique(
                column_list=["stock_code", "snapshot_at"],
                description="(stock_code, snapshot_at) is unique",
                meta={"explain": "a product has two rows for one snapshot"},
            ),
            positive("n_buyers"),
            positive("avg_unit_price", strict=True),
        ]
    return checks


def check_marts(
    frames: Mapping[str, pd.DataFrame],
    previous_counts: Mapping[str, int],
    settings: Settings,
    now: datetime | None = None,
) -> GateResult:
    """Validate every mart in ``frames`` against its suite: a pure check, frames in, result out.

    ``previous_counts`` are the row counts of the last run that passed (the row-count check
    compares against them). The caller keeps those counts and writes the report on failure.
    """
    from expectations.context import data_docs_index, get_context, run_suite

    now = now or datetime.now()
    context = get_context(settings)
    checks = []
    for table in MART_TABLES:
        frame = frames[table]
        expectations = mart_expectations(table, previous_counts.get(table), now)
        table_checks = run_suite(settings, context, table, expectations, frame)
        for check in table_checks:
            check.name = f"{table}: {check.name}"
        checks += table_checks
    return GateResult(
        gate="marts",
        success=not any(not c.success and c.severity == "critical" for c in checks),
        checks=checks,
        rows=sum(len(frames[t]) for t in MART_TABLES),
        data_docs=str(data_docs_index(settings)),
    )
