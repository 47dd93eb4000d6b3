"""Propensity endpoints: the probability of an order within the horizon (``mercato_propensity``).

``/propensity`` reads the customer's features from the Feast online store (an unknown customer
gets ``known_customer: false`` and a null probability); ``/propensity_features`` scores
features the caller sends, with no store involved.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from features import CUSTOMER_FEATURES
from models.propensity import MODEL_NAME
from serving import schemas as s
from serving.apis import Endpoint
from serving.champions import LoadedModel, customer_feature_columns
from serving.core import MercatoCore

REQUIRES = ("predict_proba", "feature_names")

#: A typical customer, for the examples of the endpoints that take features.
EXAMPLE_FEATURES = {
    "recency_days": 12.0,
    "frequency": 7,
    "monetary": 1450.5,
    "tenure_days": 300.0,
    "avg_basket_value": 207.2,
    "return_rate": 0.02,
    "n_distinct_products": 45,
    "is_uk": 1,
}


def prepare(model: Any) -> dict[str, Any]:
    """The columns of a ``CUSTOMER_FEATURES`` row the model reads, in its own order."""
    return customer_feature_columns(MODEL_NAME, model)


def _probabilities(m: LoadedModel, x: np.ndarray) -> list[float]:
    """Probabilities for rows ordered like ``CUSTOMER_FEATURES``."""
    model = m.model
    if len(x) == 0:
        return []
    if hasattr(model, "predict_proba_many"):
        p = model.predict_proba_many(x[:, m.prepared["columns"]])
        return [float(v) for v in np.asarray(p).ravel()]
    return [float(model.predict_proba(dict(zip(CUSTOMER_FEATURES, row, strict=True)))) for row in x]


def _row(features: s.CustomerFeatures) -> list[float]:
    return [float(getattr(features, name)) for name in CUSTOMER_FEATURES]


def _propensities(core: MercatoCore, customer_ids: Sequence[str]) -> list[s.PropensityResponse]:
    m = core.model(MODEL_NAME)
    x, known = core.features.rows(customer_ids)
    it = iter(_probabilities(m, x[known]))
    return [
        s.PropensityResponse(
            customer_id=cid,
            known_customer=bool(known[i]),
            probability=next(it) if known[i] else None,
            model_version=m.version,
        )
        for i, cid in enumerate(customer_ids)
    ]


def propensity(core: MercatoCore, req: s.PropensityRequest) -> s.PropensityResponse:
    return _propensities(core, [req.customer_id])[0]


def propensity_batch(core: MercatoCore, req: s.PropensityBatchRequest) -> s.PropensityBatchResponse:
    results = _propensities(core, req.customer_ids)
    return s.PropensityBatchResponse(results=results, model_version=results[0].model_version)


def propensity_features(
    core: MercatoCore, req: s.PropensityFeaturesRequest
) -> s.PropensityFeaturesResponse:
    m = core.model(MODEL_NAME)
    x = np.array([_row(req.features)], dtype=np.float64)
    return s.PropensityFeaturesResponse(
        probability=_probabilities(m, x)[0], model_version=m.version
    )


def propensity_features_batch(
    core: MercatoCore, req: s.PropensityFeaturesBatchRequest
) -> s.PropensityFeaturesBatchResponse:
    m = core.model(MODEL_NAME)
    x = np.array([_row(row) for row in req.rows], dtype=np.float64)
    return s.PropensityFeaturesBatchResponse(
        probabilities=_probabilities(m, x), model_version=m.version
    )


ENDPOINTS = [
    Endpoint(
        "propensity",
        s.PropensityRequest,
        s.PropensityResponse,
        propensity,
        "Probability that a customer orders within the horizon, from online features",
        is_async=False,
        example=lambda core: {"customer_id": core.example_customer()},
    ),
    Endpoint(
        "propensity_batch",
        s.PropensityBatchRequest,
        s.PropensityBatchResponse,
        propensity_batch,
        f"Propensity of up to {s.MAX_BATCH:,} customers, from online features",
        is_async=False,
        example=lambda core: {"customer_ids": [core.example_customer(), "0"]},
    ),
    Endpoint(
        "propensity_features",
        s.PropensityFeaturesRequest,
        s.PropensityFeaturesResponse,
        propensity_features,
        "Propensity for features the caller sends (no online store involved)",
        example={"features": EXAMPLE_FEATURES},
    ),
    Endpoint(
        "propensity_features_batch",
        s.PropensityFeaturesBatchRequest,
        s.PropensityFeaturesBatchResponse,
        propensity_features_batch,
        f"Propensity for up to {s.MAX_BATCH:,} feature rows the caller sends",
        example={"rows": [EXAMPLE_FEATURES, {**EXAMPLE_FEATURES, "recency_days": 200.0}]},
    ),
]
