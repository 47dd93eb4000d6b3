"""The service's own endpoints: which registry version answers for each model family, and the
administrative ones (``serving.apis.admin``: erasure of a customer)."""

from __future__ import annotations

from serving import schemas as s
from serving.apis import Endpoint
from serving.apis.admin import ENDPOINTS as ADMIN_ENDPOINTS
from serving.core import MercatoCore


def model_info(core: MercatoCore, req: s.ModelInfoRequest) -> s.ModelInfoResponse:
    return core.model_info()


ENDPOINTS = [
    Endpoint(
        "model_info",
        s.ModelInfoRequest,
        s.ModelInfoResponse,
        model_info,
        "The registry version served for each model family, and how the alias is followed",
        example={},
    ),
    *ADMIN_ENDPOINTS,
]
