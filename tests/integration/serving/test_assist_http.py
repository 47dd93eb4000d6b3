"""``/assist`` over HTTP on the session's ``bentoml serve``, with invoices of the generated shop.

The pipeline's data folder holds support messages quoting its own orders' invoices and an
intent champion trained on them; expected orders come from the warehouse of the serving copy.
"""

from __future__ import annotations

import csv

import httpx
import pytest

from mercato.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shop(serving_home: Settings) -> dict:
    """Two customers with orders, one invoice each, and a product name of the catalogue."""
    from warehouse import reader

    invoices = reader.query(
        serving_home,
        """
        select invoice_no, customer_id, count(*) as n_lines, min(ordered_at) as ordered_at
        from main.fct_order_lines
        where customer_id is not null and not is_cancellation
        group by 1, 2 order by 2, 1
        """,
    )
    first, other = (
        invoices.iloc[0],
        invoices[invoices["customer_id"] != invoices.iloc[0, 1]].iloc[0],
    )
    products = reader.query(
        serving_home,
        "select stock_code, description from main.dim_products "
        "where description like '% % %' and stock_code not like 'POST%' order by n_orders desc",
    )
    return {
        "customer": str(first["customer_id"]),
        "invoice": str(first["invoice_no"]),
        "n_lines": int(first["n_lines"]),
        "other_invoice": str(other["invoice_no"]),
        "product": products.iloc[0].to_dict(),
    }


def ask(client: httpx.Client, message: str, **fields) -> dict:
    response = client.post("/assist", json={"message": message, **fields})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_customer_gets_the_status_and_contents_of_their_own_order(client, shop) -> None:
    body = ask(client, f"where is my order {shop['invoice']}?", customer_id=shop["customer"])
    assert body["intent"]["name"] == "track_order" and not body["handed_over"]
    order = body["order"]
    assert order["invoice_no"] == shop["invoice"] and len(order["items"]) == shop["n_lines"]
    assert order["status"] in {
        "processing",
        "dispatched",
        "delivered",
        "cancelled",
        "partly cancelled",
    }
    assert all(item["description"] and item["quantity"] for item in order["items"])
    assert shop["invoice"] in body["reply"] and order["status"] in body["reply"]
    assert {"type": "invoice", "value": shop["invoice"]}.items() <= body["entities"][0].items()
    assert any(s["kind"] == "warehouse" for s in body["sources"])
    # the conversation remembers the invoice for the follow-up question
    again = ask(
        client,
        "what is the status of my order",
        customer_id=shop["customer"],
        conversation_id=body["conversation_id"],
    )
    assert again["order"] and again["order"]["invoice_no"] == shop["invoice"]


def test_another_customers_invoice_is_answered_as_an_unknown_one(client, shop) -> None:
    theirs = ask(
        client, f"where is my order {shop['other_invoice']}?", customer_id=shop["customer"]
    )
    unknown = ask(client, "where is my order 999999999?", customer_id=shop["customer"])
    assert theirs["order"] is None and unknown["order"] is None
    assert theirs["reply"].replace(shop["other_invoice"], "N") == unknown["reply"].replace(
        "999999999", "N"
    )
    guest = ask(client, f"where is my order {shop['invoice']}?")  # no customer id: no order
    assert guest["order"] is None and "sign in" in guest["reply"]


def test_a_policy_question_is_answered_from_the_right_file(client) -> None:
    body = ask(client, "what is your refund policy?")
    knowledge = [s for s in body["sources"] if s["kind"] == "knowledge"]
    assert knowledge and knowledge[0]["name"] == "returns.md", body
    assert "returns.md" in body["reply"] and knowledge[0]["quote"] in body["reply"]
    fee = ask(client, "is there a fee to cancel")
    assert [s["name"] for s in fee["sources"] if s["kind"] == "knowledge"] == ["cancellations.md"]


def test_a_product_name_with_typos_is_still_matched(client, shop) -> None:
    name = shop["product"]["description"].lower()
    words = name.split()
    longest = max(range(len(words)), key=lambda i: len(words[i]) if words[i].isalpha() else 0)
    word = words[longest]
    words[longest] = word[:2] + word[3:]  # one letter dropped
    typo = " ".join(words)
    assert typo != name
    body = ask(client, f"I want to buy a {typo}")
    products = [e for e in body["entities"] if e["type"] == "product"]
    assert any(e["name"].lower() == name.strip() for e in products), (typo, products)


def test_asking_for_a_person_hands_over_with_a_ticket_stored_masked(
    client, serving_home: Settings
) -> None:
    body = ask(
        client, "I want to talk to a human, write to ann.smith@example.com", customer_id="12345"
    )
    assert body["handed_over"] and body["ticket_id"] and body["ticket_id"] in body["reply"]
    assert body["hand_over_reason"] == "asked for a person"
    with (serving_home.assistant_dir / "tickets.csv").open(encoding="utf-8") as handle:
        tickets = {row["ticket_id"]: row for row in csv.DictReader(handle)}
    ticket = tickets[body["ticket_id"]]
    assert ticket["conversation_id"] == body["conversation_id"] and ticket["customer_id"] == "12345"
    assert "[email]" in ticket["message"] and "ann.smith" not in ticket["message"]
    log = (serving_home.assistant_dir / "conversations.csv").read_text(encoding="utf-8")
    assert body["conversation_id"] in log and "ann.smith@example.com" not in log
    unsure = ask(client, "qwzx vbnm plok")
    assert unsure["handed_over"] and unsure["hand_over_reason"].startswith("not sure")


def test_bad_input_is_refused_with_its_reason_never_a_5xx(client) -> None:
    empty = client.post("/assist", json={"message": ""})
    assert empty.status_code == 400 and empty.json()["field"] == "message"
    blank = client.post("/assist", json={"message": "   "})
    assert blank.status_code == 400 and "empty" in blank.json()["error"]
    huge = client.post("/assist", json={"message": "where is my order " * 200})
    assert huge.status_code == 413 and "limit" in huge.json()["error"]
    latin1 = client.post(
        "/assist",
        content='{"message": "caf\u00e9 order"}'.encode("latin-1"),
        headers={"Content-Type": "application/json"},
    )
    assert latin1.status_code == 415 and "UTF-8" in latin1.json()["error"]
    for raw in (b'{"message": 5}', b"[]", b'{"message": "x", "customer_id": [1]}', b"{"):
        response = client.post("/assist", content=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, (raw, response.text)
    fractional = client.post("/assist", json={"message": "hello", "customer_id": 1.5})
    assert fractional.status_code == 400 and fractional.json()["field"].startswith("customer_id")
    odd = client.post(
        "/assist", json={"message": "\u0000\u202e\U0001f600 ##### C", "customer_id": 7}
    )
    assert odd.status_code == 200, odd.text


def test_the_chat_page_is_served_without_a_key(server) -> None:
    page = httpx.get(f"{server.url}/chat", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'fetch("/assist"' in page.text
