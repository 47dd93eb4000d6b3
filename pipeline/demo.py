"""`make demo`: generate data, run every stage, serve the champions and show real answers.

Runs in its own data folder (``MERCATO_HOME``, default ``.mercato/``), so it never touches a
folder you use for your own data unless you point it there.
"""

from __future__ import annotations

import json
import sys

import httpx

from mercato.settings import apply_runtime_env, get_settings
from pipeline.cli import quiet_libraries, run_pipeline


def _pick_customer(settings) -> str:  # type: ignore[no-untyped-def]
    """A customer who exists in the data and has a history: the one with the most orders."""
    from warehouse.reader import read_table

    customers = read_table(settings, "dim_customers", columns=["customer_id", "n_orders"])
    return str(
        customers.sort_values(["n_orders", "customer_id"], ascending=[False, True]).iloc[0, 0]
    )


def _best_seller(settings) -> str:  # type: ignore[no-untyped-def]
    """The product in the most orders."""
    from warehouse.reader import read_table

    products = read_table(settings, "dim_products", columns=["stock_code", "n_orders"])
    return str(products.sort_values(["n_orders", "stock_code"], ascending=[False, True]).iloc[0, 0])


def _pick_product(settings) -> str | None:  # type: ignore[no-untyped-def]
    """The most reviewed product, or None when the shop has no reviews."""
    from warehouse.reader import read_table

    stats = read_table(settings, "product_review_stats", columns=["product_id", "n_reviews"])
    if stats.empty:
        return None
    return str(stats.sort_values(["n_reviews", "product_id"], ascending=[False, True]).iloc[0, 0])


def _latest_invoice(settings, customer: str) -> str | None:  # type: ignore[no-untyped-def]
    """The customer's most recent invoice, for the assistant's order-status answer."""
    from warehouse.reader import query

    rows = query(
        settings,
        "SELECT invoice_no FROM fct_order_lines WHERE customer_id = ? AND NOT is_cancellation"
        " ORDER BY ordered_at DESC, invoice_no DESC LIMIT 1",
        [customer],
    )
    return None if rows.empty else str(rows.iloc[0, 0])


def main() -> int:
    """Run the demo end to end and print the service's answers for one customer and product."""
    from serving.launch import start_background

    settings = get_settings()
    apply_runtime_env(settings)
    quiet_libraries()
    settings.ensure_dirs()
    run_pipeline(settings)

    customer = _pick_customer(settings)
    best_seller = _best_seller(settings)
    print(f"\nstarting the service on {settings.serve_host}:{settings.serve_port} ...")
    headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
    with (
        start_background(settings) as server,
        httpx.Client(base_url=server.url, headers=headers, timeout=30) as client,
    ):
        calls = {
            f"recommendations for customer {customer}": (
                "/recommend",
                {"customer_id": customer, "k": 5},
            ),
            f"segment of customer {customer}": ("/segment", {"customer_id": customer}),
            f"purchase propensity of customer {customer}": (
                "/propensity",
                {"customer_id": customer},
            ),
            f"frequently bought together with product {best_seller}": (
                "/frequently_bought_together",
                {"stock_codes": [best_seller], "k": 3},
            ),
            f"lifetime value and churn risk of customer {customer}": (
                "/customer_value",
                {"customer_id": customer},
            ),
            f"uplift of the spring newsletter for customer {customer}": (
                "/uplift",
                {"customer_id": customer, "campaign": "spring_newsletter"},
            ),
            "the most profitable audience for a 200 budget at 0.50 a contact": (
                "/campaign_plan",
                {
                    "campaign": "spring_newsletter",
                    "budget": 200,
                    "cost_per_contact": 0.5,
                    "value_per_conversion": 40,
                    "audience_limit": 5,
                },
            ),
            "purchase intent of a live browsing session": (
                "/session_intent",
                {
                    "product_pages": 18,
                    "product_seconds": 640,
                    "exit_rate": 0.02,
                    "page_value": 12.5,
                    "month": "Nov",
                    "visitor_type": "Returning_Visitor",
                },
            ),
            "click and conversion probability of an ad impression": (
                "/ad_response",
                {
                    "campaign": "retarget",
                    "creative": "retarget-v2",
                    "placement": "search_top",
                    "device": "mobile",
                    "shown_at": "2026-11-20T20:15:00",
                },
            ),
            "sentiment of a new review": (
                "/sentiment",
                {"text": "Lovely soft fabric, but it runs small.", "title": "Nice"},
            ),
        }
        invoice = _latest_invoice(settings, customer)
        if invoice is not None:
            calls[f"the assistant, asked by customer {customer} about invoice {invoice}"] = (
                "/assist",
                {"customer_id": customer, "message": f"Where is my order {invoice}?"},
            )
        calls["the assistant, asked about returns"] = (
            "/assist",
            {"message": "How do I return an item and get a refund?"},
        )
        product = _pick_product(settings)
        if product is not None:
            calls[f"what the reviews of product {product} say"] = (
                "/product_reviews",
                {"product_id": product, "k": 3},
            )
        for label, (path, body) in calls.items():
            response = client.post(path, json=body)
            print(f"\n{label} (POST {path}):")
            if response.status_code == 503:
                # a family whose gate refused every version on this data serves nothing yet
                print(f"  not served yet: {response.json().get('error', response.text)}")
                continue
            response.raise_for_status()
            print(json.dumps(response.json(), indent=2))
    print("\nservice stopped. Data, models and reports are in", settings.home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
