"""Synthetic customer-service messages labelled with their intent, for tests and ``make demo``.

The intents and categories are the Bitext customer-support sample's (27 intents in 11
categories), so a model trained here answers with the same names as one trained on the real
file. Each message is a template of its intent filled with the shop's own things (an invoice
number or product of ``orders`` when given, an e-mail address, an amount), in a few styles: plain,
polite, colloquial, and with a typo now and then (a letter dropped or swapped), as real
messages come. Dates are fixed by the caller (``end_date``, exclusive): the same arguments,
the same bytes.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

#: intent -> (category, templates); ``{invoice}``, ``{product}``, ``{email}``, ``{amount}`` are
#: filled per message.
INTENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "cancel_order": (
        "ORDER",
        (
            "I want to cancel order {invoice}",
            "how do I cancel my order {invoice}",
            "please cancel purchase {invoice}",
            "cancel the order I just placed",
        ),
    ),
    "change_order": (
        "ORDER",
        (
            "I need to change my order {invoice}",
            "can I add a {product} to order {invoice}",
            "modify the items in my order",
            "I want to swap an item in my purchase",
        ),
    ),
    "place_order": (
        "ORDER",
        (
            "I want to buy a {product}",
            "how can I place an order",
            "help me purchase a {product}",
            "I would like to order some items",
        ),
    ),
    "track_order": (
        "ORDER",
        (
            "where is my order {invoice}",
            "track order {invoice}",
            "what is the status of my order {invoice}",
            "has my order shipped yet",
        ),
    ),
    "check_refund_policy": (
        "REFUND",
        (
            "what is your refund policy",
            "can I get my money back if I return a {product}",
            "under what conditions do you refund",
            "tell me about the money back guarantee",
        ),
    ),
    "get_refund": (
        "REFUND",
        (
            "I want a refund for order {invoice}",
            "refund me {amount} please",
            "how do I get my money back",
            "I need a reimbursement for a {product}",
        ),
    ),
    "track_refund": (
        "REFUND",
        (
            "where is my refund",
            "check the status of my refund for {invoice}",
            "has my reimbursement been processed",
            "when will I receive my refund of {amount}",
        ),
    ),
    "delivery_options": (
        "DELIVERY",
        (
            "what delivery options do you have",
            "which shipping methods can I choose",
            "do you offer express shipping",
            "can I pick up my order in store",
        ),
    ),
    "delivery_period": (
        "DELIVERY",
        (
            "how long does delivery take",
            "when will my {product} arrive",
            "how many days until delivery",
            "what is the delivery time to Germany",
        ),
    ),
    "check_invoice": (
        "INVOICE",
        (
            "I want to see invoice {invoice}",
            "check my bill {invoice}",
            "what is on invoice {invoice}",
            "show me my last bill",
        ),
    ),
    "get_invoice": (
        "INVOICE",
        (
            "send me a copy of invoice {invoice}",
            "I need to download my invoice",
            "can you email the invoice to {email}",
            "where can I get my bill",
        ),
    ),
    "complaint": (
        "FEEDBACK",
        (
            "I want to make a complaint",
            "this is terrible, the {product} arrived broken",
            "I am very unhappy with your service",
            "file a complaint about order {invoice}",
        ),
    ),
    "review": (
        "FEEDBACK",
        (
            "I want to leave a review of the {product}",
            "where can I write feedback",
            "I'd like to rate my purchase",
            "how do I submit a product review",
        ),
    ),
    "check_payment_methods": (
        "PAYMENT",
        (
            "which payment methods do you accept",
            "can I pay with PayPal",
            "do you take credit cards",
            "what ways to pay are there",
        ),
    ),
    "payment_issue": (
        "PAYMENT",
        (
            "my payment did not go through",
            "I was charged twice {amount}",
            "there is a problem with my card payment",
            "payment failed for order {invoice}",
        ),
    ),
    "contact_customer_service": (
        "CONTACT",
        (
            "how can I contact customer service",
            "what are your customer support hours",
            "I need the phone number of customer support",
            "how do I reach your service team",
        ),
    ),
    "contact_human_agent": (
        "CONTACT",
        (
            "I want to talk to a human",
            "let me speak to a real person",
            "connect me with an agent please",
            "I need a live agent",
        ),
    ),
    "change_shipping_address": (
        "SHIPPING_ADDRESS",
        (
            "I need to change my shipping address",
            "update the delivery address of order {invoice}",
            "I moved, change my address",
            "wrong address on my order, please correct it",
        ),
    ),
    "set_up_shipping_address": (
        "SHIPPING_ADDRESS",
        (
            "how do I add a shipping address",
            "set up a new delivery address",
            "I want to save a second address",
            "create a shipping address for my account",
        ),
    ),
    "check_cancellation_fee": (
        "CANCELLATION_FEE",
        (
            "is there a fee to cancel",
            "how much does cancellation cost",
            "will I be charged for cancelling my order",
            "what is the cancellation fee",
        ),
    ),
    "newsletter_subscription": (
        "NEWSLETTER",
        (
            "I want to subscribe to the newsletter",
            "unsubscribe {email} from your newsletter",
            "stop sending me marketing emails",
            "sign me up for news and offers",
        ),
    ),
    "create_account": (
        "ACCOUNT",
        (
            "I want to create an account",
            "how do I sign up",
            "open a new account with {email}",
            "register a profile for me",
        ),
    ),
    "delete_account": (
        "ACCOUNT",
        (
            "delete my account",
            "I want to close my profile",
            "remove my account and my data",
            "how do I deactivate my account",
        ),
    ),
    "edit_account": (
        "ACCOUNT",
        (
            "I want to edit my account details",
            "change the email of my account to {email}",
            "update my profile information",
            "how do I modify my personal data",
        ),
    ),
    "recover_password": (
        "ACCOUNT",
        (
            "I forgot my password",
            "reset my password please",
            "I cannot log in, recover my password",
            "help me get back into my account",
        ),
    ),
    "registration_problems": (
        "ACCOUNT",
        (
            "I cannot register",
            "the sign up form gives an error",
            "problem creating my account with {email}",
            "registration keeps failing",
        ),
    ),
    "switch_account": (
        "ACCOUNT",
        (
            "how do I switch accounts",
            "change to my other account",
            "I want to use my business account instead",
            "log me into a different profile",
        ),
    ),
}
_OPENERS = ("", "", "", "hi, ", "hello, ", "please, ", "hey ")
_CLOSERS = ("", "", "", " thanks", " please", "?", "!", " asap")


def _typo(text: str, rng: np.random.Generator) -> str:
    """The text with one letter dropped or two neighbours swapped, in a word of 4+ letters."""
    words = text.split(" ")
    long = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not long:
        return text
    i = int(rng.choice(long))
    word = words[i]
    j = int(rng.integers(1, len(word) - 1))
    words[i] = (
        word[:j] + word[j + 1 :]
        if rng.random() < 0.5
        else (word[: j - 1] + word[j] + word[j - 1] + word[j + 1 :])
    )
    return " ".join(words)


def make_messages(
    n_messages: int = 800,
    seed: int = 0,
    end_date: date | None = None,
    days: int = 90,
    orders: pd.DataFrame | None = None,
    typo_rate: float = 0.15,
) -> pd.DataFrame:
    """``n_messages`` labelled messages sent in the ``days`` before ``end_date`` (required).

    With ``orders`` (the UCI order-line layout), invoice numbers, products and customer ids
    are the shop's own, and a message quoting an invoice comes from that invoice's customer.
    """
    if end_date is None:
        raise ValueError("end_date is required: generated data must not depend on today")
    rng = np.random.default_rng(seed)
    if orders is not None and len(orders):
        known = orders.dropna(subset=["CustomerID"])
        known = known[~known["InvoiceNo"].astype(str).str.startswith(("C", "A"))]
        invoices = known.drop_duplicates("InvoiceNo")
        invoice_pool = invoices["InvoiceNo"].astype(str).to_numpy()
        invoice_customer = invoices["CustomerID"].astype(float).astype(int).astype(str).to_numpy()
        products = orders["Description"].dropna().astype(str).str.strip()
        product_pool = products[products.str.len() > 3].drop_duplicates().str.lower().to_numpy()
    else:
        invoice_pool = np.array([f"{536000 + i}" for i in range(400)])
        invoice_customer = np.array([f"{12000 + i % 300}" for i in range(400)])
        product_pool = np.array(["white heart lantern", "red retrospot mug", "jam making set"])
    names = list(INTENTS)
    first = datetime.combine(end_date - timedelta(days=days), time())
    rows = []
    for i in range(n_messages):
        intent = names[i % len(names)] if i < len(names) else str(rng.choice(names))
        category, templates = INTENTS[intent]
        template = str(rng.choice(templates))
        k = int(rng.integers(len(invoice_pool)))
        invoice, customer = str(invoice_pool[k]), str(invoice_customer[k])
        product = str(rng.choice(product_pool))
        email = f"customer{int(rng.integers(1000))}@example.com"
        amount = f"£{int(rng.integers(5, 200))}.{int(rng.integers(0, 100)):02d}"
        text = template.format(invoice=invoice, product=product, email=email, amount=amount)
        text = str(rng.choice(_OPENERS)) + text + str(rng.choice(_CLOSERS))
        if rng.random() < typo_rate:
            text = _typo(text, rng)
        entity_type = entity_value = start = end = None
        if "{invoice}" in template and invoice in text:
            entity_type, entity_value = "order_id", invoice
            start = text.index(invoice)
            end = start + len(invoice)
        sent = first + timedelta(seconds=int(rng.integers(0, days * 86_400)))
        rows.append(
            {
                "message_id": f"msg-{seed}-{i:06d}",
                "customer_id": customer if entity_type or rng.random() < 0.5 else None,
                "conversation_id": f"conv-{seed}-{i:06d}",
                "sent_at": sent.strftime("%Y-%m-%d %H:%M:%S"),
                "instruction": text,
                "intent": intent,
                "category": category,
                "entity_type": entity_type,
                "entity_value": entity_value,
                "start_offset": start,
                "end_offset": end,
            }
        )
    frame = pd.DataFrame(rows)
    frame["start_offset"] = frame["start_offset"].astype("Int64")
    frame["end_offset"] = frame["end_offset"].astype("Int64")
    return frame


def write_messages(
    path: Path,
    n_messages: int = 800,
    seed: int = 0,
    end_date: date | None = None,
    days: int = 90,
    orders: pd.DataFrame | None = None,
) -> Path:
    """Write :func:`make_messages` as a CSV at ``path`` (folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = make_messages(n_messages, seed, end_date, days, orders)
    frame.to_csv(path, index=False, lineterminator="\n")
    return path
