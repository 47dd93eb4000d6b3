"""Churn endpoints: the probability that a customer buys nothing within the horizon
(``mercato_churn``), with its band.

Features come from the Feast online store; a customer it does not know gets
``known_customer: false`` and null risk and band (the documented default). ``/customer_value``
(``serving.apis.customer_value``) gives the same risk beside the customer's lifetime value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from models.churn import MODEL_NAME
from serving import schemas as s
from serving.apis import Endpoint
from serving.apis.customer_value import churn_columns, churn_risks
from serving.core import MercatoCore

REQUIRES = ("predict_proba_many", "feature_names", "band", "horizon_days")


class ChurnRiskRequest(s._Request):
    """Churn risk of one customer, from their features in the online store."""

    customer_id: s.CustomerId


class ChurnRiskBatchRequest(s._CustomerBatchRequest):
    """Churn risk of many customers at once."""


class ChurnRiskResponse(s._Response):
    customer_id: str = Field(description="The customer asked about.", examples=["17850"])
    known_customer: bool = Field(
        description=(
            "False when the online store has no features for the customer: ``churn_risk`` and "
            "``band`` are then null, the documented default (no history, no estimate)."
        )
    )
    churn_risk: float | None = Field(
        ge=0,
        le=1,
        description="Probability of no purchase within ``horizon_days``.",
        examples=[0.18],
    )
    band: str | None = Field(
        description="``low`` (< 1/3), ``medium`` (< 2/3) or ``high``.", examples=["low"]
    )
    horizon_days: int = Field(description="The N of 'no purchase within N days'.", examples=[90])
    model_version: str = Field(description="Registry version of mercato_churn.")


class ChurnRiskBatchResponse(s._Response):
    results: list[ChurnRiskResponse] = Field(description="One answer per id, in order.")
    model_version: str = Field(description="Registry version of mercato_churn.")


def prepare(model: Any) -> dict[str, Any]:
    """The columns of a ``CUSTOMER_FEATURES`` row the model reads, and its horizon."""
    return {**churn_columns(model), "details": {"horizon_days": int(model.horizon_days)}}


def _risks(core: MercatoCore, customer_ids: Sequence[str]) -> list[ChurnRiskResponse]:
    m = core.model(MODEL_NAME)
    risks = churn_risks(m, core, customer_ids)
    return [
        ChurnRiskResponse(
            customer_id=cid,
            known_customer=risk is not None,
            churn_risk=risk,
            band=m.model.band(risk) if risk is not None else None,
            horizon_days=int(m.model.horizon_days),
            model_version=m.version,
        )
        for cid, risk in zip(customer_ids, risks, strict=True)
    ]


def churn_risk(core: MercatoCore, req: ChurnRiskRequest) -> ChurnRiskResponse:
    return _risks(core, [req.customer_id])[0]


def churn_risk_batch(core: MercatoCore, req: ChurnRiskBatchRequest) -> ChurnRiskBatchResponse:
    results = _risks(core, req.customer_ids)
    return ChurnRiskBatchResponse(results=results, model_version=results[0].model_version)


def _example_customer(core: MercatoCore) -> str:
    """The service's example customer; ``Unavailable`` while no churn model is served."""
    core.model(MODEL_NAME)
    return core.example_customer()


ENDPOINTS = [
    Endpoint(
        "churn_risk",
        ChurnRiskRequest,
        ChurnRiskResponse,
        churn_risk,
        "Probability that a customer buys nothing within the horizon, with its band",
        is_async=False,
        example=lambda core: {"customer_id": _example_customer(core)},
    ),
    Endpoint(
        "churn_risk_batch",
        ChurnRiskBatchRequest,
        ChurnRiskBatchResponse,
        churn_risk_batch,
        f"Churn risk of up to {s.MAX_BATCH:,} customers",
        is_async=False,
        example=lambda core: {"customer_ids": [_example_customer(core), "0"]},
    ),
]
