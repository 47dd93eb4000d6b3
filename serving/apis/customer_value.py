"""Customer-value endpoints: lifetime value and churn risk in one answer (``mercato_clv``,
``mercato_churn``).

``/customer_value`` answers from two champions. The CLV model (``models.clv``) holds every
known customer's expected purchases, probability of being active, expected order value,
expected spend and discounted CLV over its horizon, precomputed when it was trained: a lookup,
no online store. The churn model (``models.churn``) scores the customer's features from the
Feast online store. The documented defaults:

- a customer the CLV model does not know (no purchase in the data it was trained on) gets
  ``known_customer: false`` and the values of a customer whose first purchase is on the last
  day of that data (``as_of``): what a newly acquired customer is expected to be worth;
- a customer without online features gets ``churn_risk`` and ``churn_band`` null;
- while no churn model is served yet, the churn fields are null and ``churn_model_version``
  too (the CLV part still answers); with no CLV model the endpoint answers 503.

Churn bands (``models.value_pyfunc.CHURN_BANDS``): ``low`` below 1/3, ``medium`` below 2/3,
``high`` from 2/3 on. When the online store is down and a churn model is served, the answer is
503, as for every endpoint that reads the store.

:func:`segment_value_profiles` gives the segment profiles of ``/segment`` their mean CLV and
churn risk, from the means each model computed over the segmentation champion it was trained
beside.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import Field

from models.churn import MODEL_NAME as CHURN
from models.clv import MODEL_NAME as CLV
from serving import schemas as s
from serving.apis import Endpoint
from serving.champions import LoadedModel, customer_feature_columns
from serving.core import MercatoCore

REQUIRES = ("value", "new_customer", "horizon_days", "annual_discount_rate", "as_of")


class CustomerValueRequest(s._Request):
    """Lifetime value and churn risk of one customer."""

    customer_id: s.CustomerId


class CustomerValueBatchRequest(s._CustomerBatchRequest):
    """Lifetime value and churn risk of many customers at once."""


class CustomerValueResponse(s._Response):
    customer_id: str = Field(description="The customer asked about.", examples=["17850"])
    known_customer: bool = Field(
        description=(
            "False when the CLV model has no purchase of the customer: the values are then "
            "those of a customer whose first purchase is on ``as_of`` (the documented default)."
        )
    )
    horizon_days: float = Field(description="Horizon of the forecast and the CLV, in days.")
    annual_discount_rate: float = Field(description="Discount rate of the CLV, per year.")
    as_of: str = Field(description="Last day of the purchases the CLV model was trained on.")
    expected_purchases: float = Field(
        ge=0, description="Expected purchase days within the horizon.", examples=[4.2]
    )
    probability_active: float = Field(
        ge=0, le=1, description="Probability that the customer is still active (the BTYD model's)."
    )
    expected_order_value: float = Field(
        description="Expected spend per future purchase day (Gamma-Gamma).", examples=[312.5]
    )
    expected_spend: float = Field(
        description="Expected purchases x expected order value, undiscounted.", examples=[1312.0]
    )
    clv: float = Field(
        description="Discounted expected spend within the horizon (cash at each month's end).",
        examples=[1250.3],
    )
    churn_risk: float | None = Field(
        ge=0,
        le=1,
        description=(
            "Probability of no purchase within ``churn_horizon_days``; null without online "
            "features or without a churn model."
        ),
        examples=[0.18],
    )
    churn_band: str | None = Field(
        description="``low`` (< 1/3), ``medium`` (< 2/3) or ``high`` churn risk; null with it.",
        examples=["low"],
    )
    churn_horizon_days: int | None = Field(
        description="The N of the churn risk (no purchase within N days).", examples=[90]
    )
    model_version: str = Field(description="Registry version of mercato_clv.")
    churn_model_version: str | None = Field(
        description="Registry version of mercato_churn (null: none served yet)."
    )


class CustomerValueBatchResponse(s._Response):
    results: list[CustomerValueResponse] = Field(description="One answer per id, in order.")
    model_version: str = Field(description="Registry version of mercato_clv.")


def prepare(model: Any) -> dict[str, Any]:
    """Facts for ``/model_info``: the purchase model and the CLV knobs of this version."""
    return {
        "details": {
            "horizon_days": float(model.horizon_days),
            "annual_discount_rate": float(model.annual_discount_rate),
            "as_of": str(model.as_of),
        }
    }


def churn_columns(model: Any) -> dict[str, Any]:
    """What the churn API prepares (the customer-feature columns its model reads)."""
    return customer_feature_columns(CHURN, model)


def churn_risks(
    churn: LoadedModel, core: MercatoCore, customer_ids: Sequence[str]
) -> list[float | None]:
    """P(no purchase within the horizon) per customer from online features; None where the
    store has no features. Raises ``serving.core.Unavailable`` when the store is down."""
    x, known = core.features.rows(customer_ids)
    out: list[float | None] = [None] * len(customer_ids)
    if known.any():
        columns = churn.prepared["columns"]
        p = np.asarray(churn.model.predict_proba_many(x[known][:, columns]), dtype=float)
        for i, value in zip(np.flatnonzero(known), p.tolist(), strict=True):
            out[int(i)] = float(value)
    return out


def _values(core: MercatoCore, customer_ids: Sequence[str]) -> list[CustomerValueResponse]:
    m = core.model(CLV)
    churn = core.tracker.current.get(CHURN)
    risks = churn_risks(churn, core, customer_ids) if churn else [None] * len(customer_ids)
    model = m.model
    out = []
    for cid, risk in zip(customer_ids, risks, strict=True):
        value = model.value(cid)
        out.append(
            CustomerValueResponse(
                customer_id=cid,
                known_customer=value is not None,
                horizon_days=model.horizon_days,
                annual_discount_rate=model.annual_discount_rate,
                as_of=model.as_of,
                **(value if value is not None else model.new_customer),
                churn_risk=risk,
                churn_band=churn.model.band(risk) if churn and risk is not None else None,
                churn_horizon_days=int(churn.model.horizon_days) if churn else None,
                model_version=m.version,
                churn_model_version=churn.version if churn else None,
            )
        )
    return out


def customer_value(core: MercatoCore, req: CustomerValueRequest) -> CustomerValueResponse:
    return _values(core, [req.customer_id])[0]


def customer_value_batch(
    core: MercatoCore, req: CustomerValueBatchRequest
) -> CustomerValueBatchResponse:
    results = _values(core, req.customer_ids)
    return CustomerValueBatchResponse(results=results, model_version=results[0].model_version)


def _example_customer(core: MercatoCore) -> str:
    """A customer the served CLV model knows; ``Unavailable`` while none is served (the API
    page then shows no example rather than one that answers 503)."""
    ids = getattr(core.model(CLV).model, "customer_ids", None)
    return str(ids[0]) if ids is not None and len(ids) else core.example_customer()


# -- segment profiles ------------------------------------------------------------------------
_PROFILE_KEYS = {CLV: "mean_clv", CHURN: "mean_churn_risk"}
_profile_cache: dict[tuple, dict[int, dict[str, Any]]] = {}


def segment_value_profiles(
    core: MercatoCore, segmentation_version: str
) -> dict[int, dict[str, Any]]:
    """``{segment: {"mean_clv": ..., "mean_churn_risk": ...}}`` for the served segmentation
    version: each value is the served CLV or churn model's mean over that segment's customers,
    or null when that model is not served or was trained beside another segmentation version
    (its segment ids would mean other groups). Cached per combination of served versions."""
    current = core.tracker.current
    loaded = {name: current.get(name) for name in _PROFILE_KEYS}
    key = (segmentation_version, *((m.version if m else None) for m in loaded.values()))
    cached = _profile_cache.get(key)
    if cached is not None:
        return cached
    extras: dict[int, dict[str, Any]] = {}
    for name, field in _PROFILE_KEYS.items():
        model = loaded[name]
        means: Mapping[str, Any] = getattr(model.model, "segment_means", {}) if model else {}
        if not means or str(means.get("segmentation_version")) != segmentation_version:
            continue
        for segment, entry in dict(means.get("segments", {})).items():
            extras.setdefault(int(segment), {})[field] = float(entry["mean"])
    if len(_profile_cache) > 64:
        _profile_cache.clear()
    _profile_cache[key] = extras
    return extras


ENDPOINTS = [
    Endpoint(
        "customer_value",
        CustomerValueRequest,
        CustomerValueResponse,
        customer_value,
        "A customer's expected purchases, spend, CLV and churn risk over the horizon",
        is_async=False,
        example=lambda core: {"customer_id": _example_customer(core)},
    ),
    Endpoint(
        "customer_value_batch",
        CustomerValueBatchRequest,
        CustomerValueBatchResponse,
        customer_value_batch,
        f"Customer value and churn risk of up to {s.MAX_BATCH:,} customers",
        is_async=False,
        example=lambda core: {"customer_ids": [_example_customer(core), "0"]},
    ),
]
