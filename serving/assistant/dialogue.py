"""One turn of a support conversation: the message in, the reply and what it stood on out.

In order:

1. the entities of the message (``serving.assistant.entities``) and its intent from the
   ``mercato_intent`` champion, with the probability and whether it is unsure;
2. **hand-over** to a person, with a ticket, when the customer asks for one (words like
   *human*, *agent*, *real person*, or the ``contact_human_agent`` intent), when the message is
   angry (the sentiment champion, where one is served, gives it a positive probability below
   :data:`ANGRY_BELOW` and it shouts: an exclamation mark, a word in capitals, or a
   complaint), when the intent is a complaint, when the model is unsure, or when no policy
   passage answers a policy question;
3. otherwise the answer of the intent's kind:
   - **orders** (track, invoice, cancel, change, refund, address, payment problem): the status
     and contents of the invoice named in the message, or earlier in the conversation, when it
     is the customer's own; another customer's invoice, or any invoice without a customer id,
     gets exactly the answer of an unknown one. Without an invoice: the customer's recent
     orders. Cancel, change, refund and address questions add the policy passage;
   - **shopping** (place an order, review): suggestions of the recommender champion (for the
     customer, or like a product the message names);
   - **policies** (everything else): the best BM25 passage of the knowledge pages, quoted with
     its file.
"""

from __future__ import annotations

import re
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from models.intent import FastScorer
from serving.assistant.entities import Catalogue, Entity, extract
from serving.assistant.knowledge import KnowledgeBase
from serving.assistant.log import ConversationLog
from serving.assistant.shop import Snapshot

#: A message the sentiment model finds this unlikely to be positive, and that shouts, is angry.
ANGRY_BELOW = 0.1
MAX_ITEMS_SHOWN = 5
MEMORY_CONVERSATIONS = 10_000
HUMAN_WORDS = re.compile(
    r"\b(human|real person|a person|someone real|somebody real|an agent|live agent|"
    r"representative|operator|talk to someone|speak to someone|your manager)\b",
    re.IGNORECASE,
)
SHOUTING = re.compile(r"!|\b[A-Z]{4,}\b")

ORDER_INTENTS = frozenset(
    {
        "track_order",
        "check_invoice",
        "get_invoice",
        "cancel_order",
        "change_order",
        "change_shipping_address",
        "get_refund",
        "track_refund",
        "payment_issue",
    }
)
SHOPPING_INTENTS = frozenset({"place_order", "review"})
HAND_OVER_INTENTS = {"contact_human_agent": "asked for a person", "complaint": "a complaint"}
#: The policy page an intent's answer comes from first, and words that steer the search there.
INTENT_PAGES: dict[str, tuple[str, str]] = {
    "cancel_order": ("cancellations.md", "cancelling order dispatched"),
    "change_order": ("cancellations.md", "changing order items"),
    "check_cancellation_fee": ("cancellations.md", "cancellation fee"),
    "check_refund_policy": ("returns.md", "returns window refund"),
    "get_refund": ("returns.md", "refund"),
    "track_refund": ("returns.md", "refund working days"),
    "delivery_options": ("delivery.md", "delivery options express standard"),
    "delivery_period": ("delivery.md", "delivery times working days dispatch"),
    "change_shipping_address": ("delivery.md", "shipping address change"),
    "set_up_shipping_address": ("delivery.md", "shipping address saved addresses"),
    "check_payment_methods": ("payment.md", "payment methods"),
    "payment_issue": ("payment.md", "payment problems failed charged"),
    "check_invoice": ("payment.md", "invoices"),
    "get_invoice": ("payment.md", "invoices download"),
    "create_account": ("account.md", "creating account sign up"),
    "registration_problems": ("account.md", "creating account registration fails"),
    "recover_password": ("account.md", "password forgot"),
    "edit_account": ("account.md", "changing details profile"),
    "switch_account": ("account.md", "switch account"),
    "delete_account": ("account.md", "closing account delete"),
    "newsletter_subscription": ("account.md", "newsletter subscribe unsubscribe"),
    "contact_customer_service": ("account.md", "contacting customer service"),
}
#: Order intents whose answer also quotes the policy.
ORDER_POLICY_INTENTS = frozenset(
    {"cancel_order", "change_order", "change_shipping_address", "get_refund", "track_refund"}
)


@dataclass
class Turn:
    """Everything one turn produced (what ``/assist`` returns)."""

    conversation_id: str
    reply: str
    intent: dict[str, Any]
    entities: list[dict[str, Any]]
    sources: list[dict[str, Any]] = field(default_factory=list)
    handed_over: bool = False
    hand_over_reason: str | None = None
    ticket_id: str | None = None
    order: dict[str, Any] | None = None
    recent_orders: list[dict[str, Any]] | None = None
    suggestions: list[dict[str, Any]] = field(default_factory=list)


class Assistant:
    """The dialogue over one data home's knowledge pages, shop data and log."""

    def __init__(self, knowledge: KnowledgeBase, log: ConversationLog) -> None:
        self.knowledge = knowledge
        self.log = log
        self._memory: OrderedDict[str, str] = OrderedDict()
        self._catalogue: tuple[int, Catalogue] | None = None
        self._sentiment: tuple[Any, FastScorer | None] | None = None

    def catalogue(self, snapshot: Snapshot) -> Catalogue:
        """The catalogue of ``snapshot``, built once per snapshot."""
        cached = self._catalogue
        if cached is None or cached[0] != id(snapshot):
            cached = self._catalogue = (id(snapshot), Catalogue(snapshot.catalogue))
        return cached[1]

    def respond(
        self,
        message: str,
        customer_id: str | None,
        conversation_id: str | None,
        intent_model: Any,
        snapshot: Snapshot,
        sentiment: Any = None,
        recommender: Any = None,
    ) -> Turn:
        conversation_id = conversation_id or f"c-{uuid.uuid4().hex[:12]}"
        found = extract(message, self.catalogue(snapshot))
        c = intent_model.classify(message)
        intent = c["intent"]
        turn = Turn(
            conversation_id=conversation_id,
            reply="",
            intent={
                "name": intent,
                "probability": round(c["probability"], 4),
                "category": c["category"],
                "unsure": c["unsure"],
            },
            entities=[e.as_dict() for e in found],
            sources=[{"kind": "model", "name": "mercato_intent"}],
        )
        reason = self._hand_over_reason(message, c, sentiment, turn)
        if reason is None:
            if intent in ORDER_INTENTS:
                self._order_answer(turn, intent, found, customer_id, conversation_id, snapshot)
            elif intent in SHOPPING_INTENTS:
                self._suggestions(turn, found, customer_id, recommender)
            wants_policy = not turn.reply or intent in ORDER_POLICY_INTENTS
            if wants_policy and not self._policy_answer(turn, intent, message) and not turn.reply:
                reason = "no policy page answers this"
        if reason is not None:
            self._hand_over(turn, reason, customer_id, message)
        self.log.turn(
            conversation_id,
            customer_id,
            message,
            turn.reply,
            intent,
            c["probability"],
            turn.ticket_id,
            turn.sources,
        )
        return turn

    # -- the parts ------------------------------------------------------------------------------
    def _hand_over_reason(
        self, message: str, c: dict[str, Any], sentiment: Any, turn: Turn
    ) -> str | None:
        if HUMAN_WORDS.search(message):
            return "asked for a person"
        shouting = bool(SHOUTING.search(message)) or c["intent"] == "complaint"
        if sentiment is not None and shouting:  # the model is asked only when it can matter
            p = self._positive_probability(sentiment, message)
            turn.sources.append({"kind": "model", "name": "mercato_sentiment"})
            if p < ANGRY_BELOW:
                return "the message is angry"
        if c["unsure"]:
            return f"not sure what is asked (intent probability {c['probability']:.2f})"
        return HAND_OVER_INTENTS.get(c["intent"])

    def _positive_probability(self, sentiment: Any, message: str) -> float:
        """The sentiment champion's P(positive), by the intent model's fast path when its
        pipeline is the linear TF-IDF one (equal to ``predict_proba``, a tenth of the time)."""
        cached = self._sentiment
        if cached is None or cached[0] is not sentiment:
            pipeline = getattr(sentiment, "pipeline", None)
            try:
                fast = FastScorer(pipeline) if pipeline is not None else None
            except (AttributeError, KeyError, TypeError):
                fast = None
            cached = self._sentiment = (sentiment, fast)
        fast = cached[1]
        if fast is None:
            return float(sentiment.predict_proba(message))
        return float(fast.proba(message)[1])

    def _hand_over(self, turn: Turn, reason: str, customer_id: str | None, message: str) -> None:
        ticket = f"T-{uuid.uuid4().hex[:10].upper()}"
        self.log.ticket(
            ticket, turn.conversation_id, customer_id, reason, turn.intent["name"], message
        )
        turn.handed_over, turn.hand_over_reason, turn.ticket_id = True, reason, ticket
        answered = f"{turn.reply}\n\n" if turn.reply else ""
        turn.reply = (
            f"{answered}I have passed your message to a colleague, who will get back to you "
            f"here (ticket {ticket})."
        )
        turn.sources.append({"kind": "ticket", "name": ticket, "detail": reason})

    def _order_answer(
        self,
        turn: Turn,
        intent: str,
        found: list[Entity],
        customer_id: str | None,
        conversation_id: str,
        snapshot: Snapshot,
    ) -> None:
        invoices = [e.value for e in found if e.type == "invoice"]
        invoice = invoices[0] if invoices else self._memory.get(conversation_id)
        if invoice:
            self._remember(conversation_id, invoice)
            turn.sources.append(
                {"kind": "warehouse", "name": "fct_order_lines", "detail": f"invoice {invoice}"}
            )
            if not snapshot.owned_invoice(invoice, customer_id):
                turn.reply = (
                    f"I cannot find an order {invoice} on your account. Please check the "
                    "number on your confirmation e-mail"
                    + ("." if customer_id else ", and sign in so I can look it up.")
                )
                return
            order = snapshot.order(invoice)
            turn.order = order
            turn.reply = describe_order(order)
            return
        if not customer_id:
            turn.reply = "Please sign in, or tell me the invoice number of the order."
            return
        recent = snapshot.recent_orders(customer_id)
        turn.sources.append(
            {"kind": "warehouse", "name": "fct_order_lines", "detail": "recent orders"}
        )
        turn.recent_orders = recent
        if not recent:
            turn.reply = "I cannot find any order on your account yet."
            return
        listed = "; ".join(
            f"{o['invoice_no']} of {o['ordered_at'][:10]} ({o['status']}, £{o['total']:.2f})"
            for o in recent
        )
        turn.reply = f"Your latest orders: {listed}. Which one do you mean?"

    def _suggestions(
        self, turn: Turn, found: list[Entity], customer_id: str | None, recommender: Any
    ) -> None:
        if recommender is None:
            return
        products = [e.value for e in found if e.type in ("product", "product_code")]
        pairs: list[tuple[str, float]] = []
        how = "for you"
        if products:
            try:
                pairs = recommender.similar_items(products[0], k=3)
                how = f"with {recommender.describe(products[0]) or products[0]}"
            except KeyError:
                pairs = []
        if not pairs:
            pairs = recommender.recommend(customer_id or "", k=3)
        turn.sources.append({"kind": "model", "name": "mercato_recommender"})
        turn.suggestions = [
            {"stock_code": str(code), "description": recommender.describe(str(code))}
            for code, _ in pairs
        ]
        names = ", ".join(s["description"] or s["stock_code"] for s in turn.suggestions)
        if names:
            turn.reply = f"You may like, {how}: {names}."

    def _policy_answer(self, turn: Turn, intent: str, message: str) -> bool:
        page, hint = INTENT_PAGES.get(intent, (None, ""))
        hits = self.knowledge.search(f"{message} {hint}", k=1, prefer=page)
        if not hits:
            return False
        passage = hits[0].passage
        quoted = f'From {passage.file} ({passage.heading}): "{passage.text}"'
        turn.reply = f"{turn.reply}\n\n{quoted}" if turn.reply else quoted
        turn.sources.append(
            {
                "kind": "knowledge",
                "name": passage.file,
                "detail": passage.heading,
                "quote": passage.text,
            }
        )
        return True

    def _remember(self, conversation_id: str, invoice: str) -> None:
        self._memory[conversation_id] = invoice
        self._memory.move_to_end(conversation_id)
        while len(self._memory) > MEMORY_CONVERSATIONS:
            self._memory.popitem(last=False)


def describe_order(order: dict[str, Any]) -> str:
    """An order in a sentence or three: status, date, items, total, cancelled lines."""
    items = order["items"]
    shown = ", ".join(
        f"{i['quantity']} x {i['description'] or i['stock_code']} (£{i['amount']:.2f})"
        for i in items[:MAX_ITEMS_SHOWN]
    )
    more = f" and {len(items) - MAX_ITEMS_SHOWN} more" if len(items) > MAX_ITEMS_SHOWN else ""
    text = (
        f"Order {order['invoice_no']} of {str(order['ordered_at'])[:10]} is {order['status']}: "
        f"{shown}{more}; total £{order['total']:.2f}."
    )
    if order["cancelled_lines"]:
        lines = ", ".join(
            f"{-c['quantity']} x {c['description'] or c['stock_code']} ({c['cancellation']})"
            for c in order["cancelled_lines"]
        )
        text += f" Cancelled since: {lines}."
    return text
