"""Uplift endpoints: the extra conversion probability a campaign causes, and the plan of a send
(``mercato_uplift``).

``/uplift`` and ``/uplift_batch`` answer per treated arm of a campaign for customers the model
knows (their attributes from the campaign data; an unknown customer gets
``known_customer: false`` and null uplifts). ``/campaign_plan`` is ``mercato campaign plan``
over HTTP: the audience that maximises expected incremental profit under a budget
(``models.planning``). An unknown campaign is a 404 naming the known ones; a budget below one
contact is a 400 naming ``budget``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from models.planning import PlanRefused, plan_campaign
from models.uplift import MODEL_NAME
from serving import schemas as s
from serving.apis import Endpoint
from serving.core import MercatoCore, NotFound, ServingError

REQUIRES = ("uplift_many", "uplift_matrix", "treatments", "campaigns", "customer_ids")
#: Audience rows ``/campaign_plan`` returns at most (the CLI writes them all to a file).
MAX_AUDIENCE = 1000
CLV_MODEL = "mercato_clv"

Campaign = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="Campaign name as in the campaign data (lower case).",
        examples=["spring_newsletter"],
    ),
]
Money = Annotated[float, Field(gt=0, le=1e12)]
#: at least a hundredth of a cent, so that budget / cost stays a finite number of contacts
ContactCost = Annotated[float, Field(ge=1e-4, le=1e12)]


def prepare(model: Any) -> dict[str, Any]:
    """Every known customer's uplift predicted once (if the version did not carry it), and
    the campaigns and arms served, for ``/model_info``."""
    if not getattr(model, "_known", None) and hasattr(model, "precompute"):
        model.precompute()
    return {
        "details": {
            "campaigns": {c: model.treatments(c) for c in model.campaigns},
            "customers": int(len(model.customer_ids)),
        }
    }


class UpliftRequest(s._Request):
    """Predicted uplift of one customer for each treated arm of a campaign."""

    customer_id: s.CustomerId
    campaign: Campaign


class UpliftResponse(s._Response):
    customer_id: str = Field(description="The customer asked about.", examples=["17850"])
    campaign: str
    known_customer: bool = Field(
        description="False when no campaign data has this customer's attributes: the uplifts "
        "are then null (no attributes, no estimate)."
    )
    uplift: dict[str, float] | None = Field(
        description="Per treated arm: P(convert | sent it) - P(convert | sent nothing).",
        examples=[{"mens_e_mail": 0.031, "womens_e_mail": 0.012}],
    )
    best_treatment: str | None = Field(description="The arm with the largest uplift.")
    model_version: str = Field(description="Registry version of mercato_uplift.")


class UpliftBatchRequest(s._Request):
    """Predicted uplifts of many customers for one campaign."""

    customer_ids: list[s.CustomerId] = Field(
        min_length=1, max_length=s.MAX_BATCH, description=f"1 to {s.MAX_BATCH} customer ids."
    )
    campaign: Campaign


class UpliftBatchResponse(s._Response):
    results: list[UpliftResponse]
    model_version: str


class CampaignPlanRequest(s._Request):
    """Whom to send a campaign to for the most expected incremental profit within a budget."""

    campaign: Campaign
    budget: Money = Field(description="Money to spend on contacts.", examples=[500.0])
    cost_per_contact: ContactCost = Field(
        description="Cost of one send (at least 0.0001).", examples=[0.5]
    )
    value_per_conversion: Money | None = Field(
        default=None,
        description="Value of one conversion; null: each customer's CLV (clv champion).",
        examples=[40.0],
    )
    audience_limit: int = Field(
        default=100, ge=0, le=MAX_AUDIENCE, description="Audience rows to return (best first)."
    )


class AudienceMember(s._Response):
    customer_id: str
    treatment: str
    expected_uplift: float
    value: float
    expected_profit: float


class CampaignPlanResponse(s._Response):
    campaign: str
    value_source: str = Field(description="value_per_conversion, or clv.")
    n_candidates: int
    n_contacts: int
    spent: float
    expected_conversions: float
    conversions_low: float = Field(
        description="90 % interval, from the hold-out's realised effect."
    )
    conversions_high: float
    expected_profit: float
    profit_low: float
    profit_high: float
    audience: list[AudienceMember]
    audience_truncated: bool
    notes: list[str]
    model_version: str


def _uplifts(core: MercatoCore, customer_ids: Sequence[str], campaign: str) -> list[UpliftResponse]:
    m = core.model(MODEL_NAME)
    model = m.model
    if campaign not in model.campaigns:
        raise NotFound(
            f"unknown campaign {campaign!r}; the served model knows {', '.join(model.campaigns)}",
            field="campaign",
        )
    arms = model.treatments(campaign)
    values, known = model.uplift_many(customer_ids, campaign)
    out = []
    for i, cid in enumerate(customer_ids):
        row = dict(zip(arms, map(float, values[i]), strict=True)) if known[i] else None
        out.append(
            UpliftResponse(
                customer_id=cid,
                campaign=campaign,
                known_customer=bool(known[i]),
                uplift=row,
                best_treatment=arms[int(np.argmax(values[i]))] if known[i] else None,
                model_version=m.version,
            )
        )
    return out


def uplift(core: MercatoCore, req: UpliftRequest) -> UpliftResponse:
    return _uplifts(core, [req.customer_id], req.campaign)[0]


def uplift_batch(core: MercatoCore, req: UpliftBatchRequest) -> UpliftBatchResponse:
    results = _uplifts(core, req.customer_ids, req.campaign)
    return UpliftBatchResponse(results=results, model_version=results[0].model_version)


def campaign_plan(core: MercatoCore, req: CampaignPlanRequest) -> CampaignPlanResponse:
    m = core.model(MODEL_NAME)
    clv = None
    if req.value_per_conversion is None:
        loaded = core.tracker.current.get(CLV_MODEL)
        clv = loaded.model if loaded is not None else None
    try:
        plan = plan_campaign(
            m.model,
            req.campaign,
            req.budget,
            req.cost_per_contact,
            req.value_per_conversion,
            clv,
            m.version,
        )
    except PlanRefused as exc:
        error = NotFound if exc.status == 404 else ServingError
        raise error(str(exc), field=exc.field) from exc
    summary = plan.summary()
    return CampaignPlanResponse(
        **{k: summary[k] for k in CampaignPlanResponse.model_fields if k in summary},
        audience=[
            AudienceMember(
                customer_id=c, treatment=t, expected_uplift=u, value=v, expected_profit=p
            )
            for c, t, u, v, p in plan.audience[: req.audience_limit]
        ],
        audience_truncated=len(plan.audience) > req.audience_limit,
    )


def _example(core: MercatoCore) -> dict[str, Any]:
    loaded = core.tracker.current.get(MODEL_NAME)
    if loaded is None or not loaded.model.campaigns:
        return {"customer_id": "900001", "campaign": "spring_newsletter"}
    model = loaded.model
    return {"customer_id": str(model.customer_ids[0]), "campaign": model.campaigns[0]}


ENDPOINTS = [
    Endpoint(
        "uplift",
        UpliftRequest,
        UpliftResponse,
        uplift,
        "Extra conversion probability each arm of a campaign causes for one customer",
        example=_example,
    ),
    Endpoint(
        "uplift_batch",
        UpliftBatchRequest,
        UpliftBatchResponse,
        uplift_batch,
        f"Uplift of up to {s.MAX_BATCH:,} customers for one campaign",
        example=lambda core: {
            "customer_ids": [_example(core)["customer_id"], "0"],
            "campaign": _example(core)["campaign"],
        },
    ),
    Endpoint(
        "campaign_plan",
        CampaignPlanRequest,
        CampaignPlanResponse,
        campaign_plan,
        "The audience of a campaign with the most expected incremental profit under a budget",
        is_async=False,
        example=lambda core: {
            "campaign": _example(core)["campaign"],
            "budget": 100.0,
            "cost_per_contact": 0.5,
            "value_per_conversion": 40.0,
            "audience_limit": 5,
        },
    ),
]
