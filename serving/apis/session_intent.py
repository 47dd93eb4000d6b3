"""Session intent endpoints: P(a live session ends in a purchase) (``mercato_session_intent``).

``/session_intent`` scores one session from what the visitor did so far (the page counts and
seconds, the analytics rates and page value of the pages seen, and the context); a page can
call it on every page view. ``/session_intent_batch`` scores up to ``MAX_BATCH`` sessions. The
numbers mean what they mean in mart ``fct_sessions``; missing counts and seconds are 0, and an
unknown category code (a browser the model never saw) simply adds nothing.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from models.session_intent import MODEL_NAME
from serving.apis import Endpoint
from serving.core import MercatoCore
from serving.schemas import MAX_BATCH
from warehouse.sources.sessions import MONTH_NAMES, MONTHS

REQUIRES = ("predict_proba", "predict_proba_rows")


def _month(value: str) -> str:
    month = MONTHS.get(value.strip().lower())
    if month is None:
        raise ValueError(f"month must be a month name ({', '.join(MONTH_NAMES)}), not {value!r}")
    return month


Month = Annotated[
    str,
    AfterValidator(_month),
    Field(description="Month of the session: Jan ... Dec (full names accepted).", examples=["Nov"]),
]
Count = Annotated[int, Field(ge=0, le=100_000)]
Seconds = Annotated[float, Field(ge=0, le=10_000_000)]
Rate = Annotated[float, Field(ge=0, le=1)]
Code = Annotated[int, Field(ge=1, le=10_000)]


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class _Response(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)


class SessionSoFar(_Request):
    """A live session's behaviour so far (running counts, seconds and means of its pages)."""

    session_id: str | None = Field(
        default=None, max_length=128, description="Echoed back; not used by the model."
    )
    administrative_pages: Count = Field(default=0, description="Account and admin pages seen.")
    administrative_seconds: Seconds = Field(default=0.0, description="Seconds on those pages.")
    informational_pages: Count = Field(default=0, description="Informational pages seen.")
    informational_seconds: Seconds = Field(default=0.0, description="Seconds on those pages.")
    product_pages: Count = Field(default=0, description="Product pages seen.", examples=[18])
    product_seconds: Seconds = Field(
        default=0.0, description="Seconds on product pages.", examples=[640.0]
    )
    bounce_rate: Rate = Field(
        default=0.0, description="Mean bounce rate of the pages seen.", examples=[0.004]
    )
    exit_rate: Rate = Field(
        default=0.0, description="Mean exit rate of the pages seen.", examples=[0.02]
    )
    page_value: Seconds = Field(
        default=0.0, description="Mean analytics page value of the pages seen.", examples=[12.5]
    )
    special_day: Rate = Field(default=0.0, description="Closeness to a special day, 0 to 1.")
    is_weekend: bool = Field(default=False, description="The session is on a weekend.")
    month: Month
    visitor_type: Literal["Returning_Visitor", "New_Visitor", "Other"] = Field(
        description="Returning_Visitor, New_Visitor or Other.", examples=["Returning_Visitor"]
    )
    operating_system: Code | None = Field(default=None, description="Operating system code.")
    browser: Code | None = Field(default=None, description="Browser code.")
    region: Code | None = Field(default=None, description="Region code.")
    traffic_type: Code | None = Field(default=None, description="Traffic source code.")


class SessionIntentResponse(_Response):
    session_id: str | None = Field(description="As sent.")
    probability: float = Field(
        ge=0, le=1, description="Probability that the session ends in a purchase.", examples=[0.4]
    )
    model_version: str = Field(description="Registry version of mercato_session_intent.")


class SessionIntentBatchRequest(_Request):
    """Many live sessions at once."""

    sessions: list[SessionSoFar] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"1 to {MAX_BATCH} sessions."
    )


class SessionIntentBatchResponse(_Response):
    probabilities: list[float] = Field(description="One probability per session, in order.")
    session_ids: list[str | None] = Field(description="The sessions' ids as sent, in order.")
    model_version: str = Field(description="Registry version of mercato_session_intent.")


def _features(session: SessionSoFar) -> dict[str, Any]:
    return session.model_dump(exclude={"session_id"})


def session_intent(core: MercatoCore, req: SessionSoFar) -> SessionIntentResponse:
    m = core.model(MODEL_NAME)
    return SessionIntentResponse(
        session_id=req.session_id,
        probability=float(m.model.predict_proba(_features(req))),
        model_version=m.version,
    )


def session_intent_batch(
    core: MercatoCore, req: SessionIntentBatchRequest
) -> SessionIntentBatchResponse:
    m = core.model(MODEL_NAME)
    p = m.model.predict_proba_rows([_features(s) for s in req.sessions])
    return SessionIntentBatchResponse(
        probabilities=[float(v) for v in p],
        session_ids=[s.session_id for s in req.sessions],
        model_version=m.version,
    )


EXAMPLE_SESSION = {
    "session_id": "web-4711",
    "administrative_pages": 2,
    "administrative_seconds": 45.0,
    "product_pages": 18,
    "product_seconds": 640.0,
    "bounce_rate": 0.004,
    "exit_rate": 0.02,
    "page_value": 12.5,
    "month": "Nov",
    "visitor_type": "Returning_Visitor",
    "traffic_type": 2,
}

ENDPOINTS = [
    Endpoint(
        "session_intent",
        SessionSoFar,
        SessionIntentResponse,
        session_intent,
        "Probability that a live browsing session ends in a purchase, from its behaviour so far",
        example=EXAMPLE_SESSION,
    ),
    Endpoint(
        "session_intent_batch",
        SessionIntentBatchRequest,
        SessionIntentBatchResponse,
        session_intent_batch,
        f"Purchase probability of up to {MAX_BATCH:,} live sessions",
        example={
            "sessions": [
                EXAMPLE_SESSION,
                {**EXAMPLE_SESSION, "session_id": "web-4712", "page_value": 0.0},
            ]
        },
    ),
]
