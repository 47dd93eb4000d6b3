"""Segment endpoints: a customer's segment and its profile (``mercato_segmentation``).

Features come from the Feast online store; a customer it does not know gets
``known_customer: false`` and null segment and profile (the documented default). Profiles carry
``mean_clv`` and ``mean_churn_risk`` from the customer-value models when those were trained
beside the served segmentation version (``serving.apis.customer_value``), else null.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from features import CUSTOMER_FEATURES
from models.segmentation import MODEL_NAME
from serving import schemas as s
from serving.apis import Endpoint
from serving.apis.customer_value import segment_value_profiles
from serving.champions import LoadedModel, customer_feature_columns, plain
from serving.core import MercatoCore

REQUIRES = ("assign", "profiles")


def prepare(model: Any) -> dict[str, Any]:
    """The model's feature columns and JSON-safe profiles, built once per loaded version."""
    profiles = {int(k): plain(v) for k, v in dict(model.profiles).items()}
    return {
        **customer_feature_columns(MODEL_NAME, model),
        "profiles": profiles,
        "details": {"segments": sorted(profiles)},
    }


def _assign(m: LoadedModel, x: np.ndarray) -> list[int]:
    """Segment ids for rows ordered like ``CUSTOMER_FEATURES``."""
    model = m.model
    if len(x) == 0:
        return []
    if hasattr(model, "assign_many"):
        return [int(v) for v in np.asarray(model.assign_many(x[:, m.prepared["columns"]]))]
    return [int(model.assign(dict(zip(CUSTOMER_FEATURES, row, strict=True)))) for row in x]


def _segments(core: MercatoCore, customer_ids: Sequence[str]) -> list[s.SegmentResponse]:
    m = core.model(MODEL_NAME)
    x, known = core.features.rows(customer_ids)
    segments = iter(_assign(m, x[known]))
    profiles = m.prepared["profiles"]
    values = segment_value_profiles(core, m.version)
    out = []
    for i, cid in enumerate(customer_ids):
        seg = next(segments) if known[i] else None
        out.append(
            s.SegmentResponse(
                customer_id=cid,
                known_customer=bool(known[i]),
                segment=seg,
                profile=_with_values(profiles.get(seg), values.get(seg, {}))
                if seg is not None
                else None,
                model_version=m.version,
            )
        )
    return out


def _with_values(profile: dict | None, values: dict) -> dict | None:
    """The trained profile with the segment's mean CLV and churn risk (null if unknown)."""
    if profile is None:
        return None
    extra = {"mean_clv": values.get("mean_clv"), "mean_churn_risk": values.get("mean_churn_risk")}
    return {**profile, **extra}


def segment(core: MercatoCore, req: s.SegmentRequest) -> s.SegmentResponse:
    return _segments(core, [req.customer_id])[0]


def segment_batch(core: MercatoCore, req: s.SegmentBatchRequest) -> s.SegmentBatchResponse:
    results = _segments(core, req.customer_ids)
    return s.SegmentBatchResponse(results=results, model_version=results[0].model_version)


ENDPOINTS = [
    Endpoint(
        "segment",
        s.SegmentRequest,
        s.SegmentResponse,
        segment,
        "A customer's segment and its profile, from their online features",
        is_async=False,
        example=lambda core: {"customer_id": core.example_customer()},
    ),
    Endpoint(
        "segment_batch",
        s.SegmentBatchRequest,
        s.SegmentBatchResponse,
        segment_batch,
        f"Segments of up to {s.MAX_BATCH:,} customers",
        is_async=False,
        example=lambda core: {"customer_ids": [core.example_customer(), "0"]},
    ),
]
