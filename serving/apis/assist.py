"""The support assistant endpoint: ``/assist`` (``mercato_intent`` with the other champions).

A customer's message in (their id when the shop's front end has authenticated them, and the
conversation it continues), the reply out: the intent with its probability, the entities found,
the sources the answer stands on (knowledge pages, warehouse tables, models), and whether it
was handed over to a person, with the ticket. See ``serving.assistant.dialogue`` for the rules
and docs/assistant.md for the whole picture.

Bad input never reaches the models: an empty message is 400, a message over
:data:`MAX_MESSAGE_CHARS` characters is 413 (a body over the service's limit is 413 already in
``serving.guard``), and a body that is not UTF-8 is 415 (``serving.chat``).
"""

from __future__ import annotations

import re
import threading
import weakref
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mercato.names import customer_id_text
from models.intent import MODEL_NAME
from serving.apis import Endpoint
from serving.core import MercatoCore, ServingError

REQUIRES = ("classify", "intents", "threshold")
#: Longest message answered, in characters; a support question is a few sentences.
MAX_MESSAGE_CHARS = 2_000
_CONVERSATION = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class MessageTooLarge(ServingError):
    status = 413


class AssistRequest(BaseModel):
    """One message of a customer to the shop's support."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(
        min_length=1,
        description=f"What the customer wrote (1 to {MAX_MESSAGE_CHARS:,} characters).",
        examples=["Where is my order 536365?"],
    )
    customer_id: str | int | None = Field(
        default=None,
        description="The customer, as authenticated by the shop's front end; without it no "
        "order is shown.",
        examples=["12485"],
    )
    conversation_id: str | None = Field(
        default=None,
        description="The conversation this message continues (returned by the first answer).",
    )

    @field_validator("conversation_id")
    @classmethod
    def _conversation(cls, value: str | None) -> str | None:
        if value is not None and not _CONVERSATION.match(value):
            raise ValueError("conversation_id must be 1-64 letters, digits, '_', '-', '.' or ':'")
        return value


class IntentAnswer(BaseModel):
    name: str = Field(description="The intent of the message.")
    probability: float = Field(ge=0, le=1, description="The model's probability of it.")
    category: str | None = Field(description="The intent's category (ORDER, REFUND, ...).")
    unsure: bool = Field(description="The probability is below the model's threshold.")


class SourceUsed(BaseModel):
    kind: Literal["knowledge", "warehouse", "model", "ticket"]
    name: str = Field(description="The file, table, model or ticket.")
    detail: str | None = Field(default=None, description="Section, invoice, reason...")
    quote: str | None = Field(default=None, description="The passage quoted, for knowledge.")


class AssistResponse(BaseModel):
    conversation_id: str = Field(description="Send it back with the next message.")
    reply: str = Field(description="The answer to show the customer.")
    intent: IntentAnswer
    entities: list[dict[str, Any]] = Field(
        description="Invoices, products, e-mails, amounts and dates found, with their spans."
    )
    sources: list[SourceUsed] = Field(description="What the answer stands on.")
    handed_over: bool = Field(description="A person takes over (a ticket was opened).")
    hand_over_reason: str | None = Field(description="Why it was handed over.")
    ticket_id: str | None = Field(description="The ticket opened for the hand-over.")
    order: dict[str, Any] | None = Field(
        description="The order asked about: status, date, items, total, cancelled lines."
    )
    recent_orders: list[dict[str, Any]] | None = Field(description="The customer's latest orders.")
    suggestions: list[dict[str, Any]] = Field(description="Products the recommender suggests.")
    model_version: str = Field(description="Registry version of mercato_intent.")


class _State:
    """What the endpoint keeps per service: the shop data, knowledge pages, log, dialogue."""

    def __init__(self, core: MercatoCore) -> None:
        from serving.assistant.dialogue import Assistant
        from serving.assistant.knowledge import KnowledgeBase, ensure_defaults
        from serving.assistant.log import ConversationLog
        from serving.assistant.shop import ShopData

        settings = core.settings
        ensure_defaults(settings.knowledge_dir)
        self.shop = ShopData(settings)
        self.assistant = Assistant(
            KnowledgeBase(settings.knowledge_dir), ConversationLog(settings.assistant_dir)
        )


_STATES: weakref.WeakKeyDictionary[MercatoCore, _State] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def state(core: MercatoCore) -> _State:
    """The endpoint's state for ``core``, built on first use."""
    found = _STATES.get(core)
    if found is None:
        with _LOCK:
            found = _STATES.get(core)
            if found is None:
                found = _STATES[core] = _State(core)
    return found


def _optional_model(core: MercatoCore, name: str) -> Any:
    loaded = core.tracker.current.get(name)
    return loaded.model if loaded is not None else None


def assist(core: MercatoCore, req: AssistRequest) -> AssistResponse:
    """One turn (``serving.assistant.dialogue``). Async on the event loop: a turn is about a
    millisecond of Python (the orders are in memory; the log appends a line), cheaper than the
    thread pool's hand-off; only the very first turn waits for the warehouse read."""
    from models.recommendation import MODEL_NAME as RECOMMENDER
    from models.sentiment import MODEL_NAME as SENTIMENT

    message = req.message.strip()
    if not message:
        raise ServingError("message is empty: write what the customer asked", field="message")
    if len(message) > MAX_MESSAGE_CHARS:
        raise MessageTooLarge(
            f"message is {len(message):,} characters, over the limit of {MAX_MESSAGE_CHARS:,}",
            field="message",
        )
    m = core.model(MODEL_NAME)
    own = state(core)
    turn = own.assistant.respond(
        message,
        customer_id_text(req.customer_id),
        req.conversation_id,
        m.model,
        own.shop.current(),
        sentiment=_optional_model(core, SENTIMENT),
        recommender=_optional_model(core, RECOMMENDER),
    )
    return AssistResponse(
        conversation_id=turn.conversation_id,
        reply=turn.reply,
        intent=IntentAnswer(**turn.intent),
        entities=turn.entities,
        sources=[SourceUsed(**s) for s in turn.sources],
        handed_over=turn.handed_over,
        hand_over_reason=turn.hand_over_reason,
        ticket_id=turn.ticket_id,
        order=turn.order,
        recent_orders=turn.recent_orders,
        suggestions=turn.suggestions,
        model_version=m.version,
    )


def example(core: MercatoCore) -> dict[str, Any]:
    """A customer's latest invoice, asked about by that customer."""
    snapshot = state(core).shop.current()
    for customer, invoices in snapshot.by_customer.items():
        own = [i for i in invoices if not i.startswith("C")]
        if own:
            return {"customer_id": customer, "message": f"Where is my order {own[0]}?"}
    return {"message": "What is your returns policy?"}


ENDPOINTS = [
    Endpoint(
        "assist",
        AssistRequest,
        AssistResponse,
        assist,
        "A customer-service answer: order status, policies, suggestions, or a hand-over",
        example=example,
    )
]
