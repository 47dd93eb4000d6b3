"""The Mercato HTTP service: recommendations, similar items, segments, propensity, model info.

Run it with ``mercato serve`` (or ``bentoml serve serving.service:Mercato`` from the checkout).
Every endpoint is a POST with a JSON body; the OpenAPI page at ``/`` documents each one from the
models in ``serving.schemas``. Every answer names the registry version that produced it.

- Models: the ``champion`` of each registered model, resolved at start-up and followed
  afterwards (``MERCATO_MODEL_POLL_SECONDS``, default 30): a newly promoted version is loaded
  beside the old one and swapped in atomically (see ``serving.champions``).
- Unknown customer: 200 with the documented default (popular items with ``cold_start: true``;
  ``known_customer: false`` and nulls for segment and propensity). Unknown product: 404.
  Invalid input: 400 naming the field. Online store down, or no champion yet: 503, and the
  service recovers by itself. Oversized body: 413; not JSON: 415.
- ``MERCATO_API_KEY`` set: every call except health checks and docs needs the key (401).
- Overhead kept low (see ``serving.hotpath``): each API is bound once at start-up, and the
  start-up heap is frozen out of the garbage collector's full collections (again after every
  swap). BentoML's OpenTelemetry spans are not built (its default sample rate is
  0, so they were thrown away, yet cost more than the models' arithmetic; configure BentoML
  tracing *and* ``excluded_urls`` to trace), no access log. Prometheus metrics on ``/metrics``
  come from ``serving.metrics`` instead of BentoML's (which cost about 20 µs a request);
  ``MERCATO_SERVING_METRICS=0`` switches them off.

The endpoints that only need a model are ``async`` (microseconds of NumPy on the event loop);
those that read the online store are sync and run in BentoML's thread pool.
"""

from __future__ import annotations

import logging
import os

import bentoml
from starlette.responses import Response

from serving import schemas as s
from serving.core import MercatoCore, answer
from serving.guard import Guard
from serving.hotpath import bind_api_methods, freeze_heap, refreeze_heap
from serving.metrics import RequestMetrics

METRICS_ENV = "MERCATO_SERVING_METRICS"


def _log_to_stderr() -> None:
    """Make our start-up and swap messages visible in the server log."""
    logger = logging.getLogger("mercato")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _metrics_enabled() -> bool:
    """Prometheus request metrics on ``/metrics``: on unless ``MERCATO_SERVING_METRICS=0``."""
    return os.environ.get(METRICS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


@bentoml.service(
    name="mercato",
    workers=1,
    threads=4,
    traffic={"timeout": 10},
    logging={"access": {"enabled": False}},
    tracing={"excluded_urls": ".*"},
    metrics={"enabled": False},  # serving.metrics keeps them, for a fraction of the cost
)
class Mercato:
    """Champions of the three Mercato models behind one typed HTTP API."""

    def __init__(self) -> None:
        from mercato.settings import apply_runtime_env, get_settings

        _log_to_stderr()
        settings = get_settings()
        apply_runtime_env(settings)
        self.core = MercatoCore(settings)
        self.core.start()
        bind_api_methods(self, Mercato.apis)
        if REQUEST_METRICS is not None:
            REQUEST_METRICS.served_versions = self.core.tracker.served_versions
        self.core.tracker.on_swap.append(lambda _swaps: refreeze_heap())
        freeze_heap()

    def __is_ready__(self) -> bool:
        return any(self.core.tracker.served_versions().values())

    @bentoml.on_shutdown
    def _shutdown(self) -> None:
        self.core.stop()

    # -- recommendations ----------------------------------------------------------------------
    @bentoml.api(output_spec=s.RecommendResponse)
    async def recommend(self, request: s.RecommendRequest, /) -> Response:
        """Top-k products for a customer; an unknown customer gets the popular items."""
        return answer(self.core.recommend, request)

    @bentoml.api(output_spec=s.RecommendBatchResponse)
    async def recommend_batch(self, request: s.RecommendBatchRequest, /) -> Response:
        """Top-k products for up to 1,000 customers."""
        return answer(self.core.recommend_batch, request)

    # -- similar items ------------------------------------------------------------------------
    @bentoml.api(output_spec=s.SimilarItemsResponse)
    async def similar_items(self, request: s.SimilarItemsRequest, /) -> Response:
        """Products most associated with a product; 404 for a product not in the catalogue."""
        return answer(self.core.similar_items, request)

    @bentoml.api(output_spec=s.SimilarItemsBatchResponse)
    async def similar_items_batch(self, request: s.SimilarItemsBatchRequest, /) -> Response:
        """Similar products for up to 1,000 products; unknown ones come back with found=false."""
        return answer(self.core.similar_items_batch, request)

    # -- segments (online store) --------------------------------------------------------------
    @bentoml.api(output_spec=s.SegmentResponse)
    def segment(self, request: s.SegmentRequest, /) -> Response:
        """A customer's segment and its profile, from the customer's online features."""
        return answer(self.core.segment, request)

    @bentoml.api(output_spec=s.SegmentBatchResponse)
    def segment_batch(self, request: s.SegmentBatchRequest, /) -> Response:
        """Segments of up to 1,000 customers."""
        return answer(self.core.segment_batch, request)

    # -- propensity ---------------------------------------------------------------------------
    @bentoml.api(output_spec=s.PropensityResponse)
    def propensity(self, request: s.PropensityRequest, /) -> Response:
        """Probability that a customer orders within the horizon, from online features."""
        return answer(self.core.propensity, request)

    @bentoml.api(output_spec=s.PropensityBatchResponse)
    def propensity_batch(self, request: s.PropensityBatchRequest, /) -> Response:
        """Propensity of up to 1,000 customers from online features."""
        return answer(self.core.propensity_batch, request)

    @bentoml.api(output_spec=s.PropensityFeaturesResponse)
    async def propensity_features(self, request: s.PropensityFeaturesRequest, /) -> Response:
        """Propensity for features sent by the caller (no online store involved)."""
        return answer(self.core.propensity_features, request)

    @bentoml.api(output_spec=s.PropensityFeaturesBatchResponse)
    async def propensity_features_batch(
        self, request: s.PropensityFeaturesBatchRequest, /
    ) -> Response:
        """Propensity for up to 1,000 feature rows sent by the caller."""
        return answer(self.core.propensity_features_batch, request)

    # -- model info ---------------------------------------------------------------------------
    @bentoml.api(output_spec=s.ModelInfoResponse)
    async def model_info(self, request: s.ModelInfoRequest, /) -> s.ModelInfoResponse:
        """The registry version served for each model, and how the service follows the alias."""
        return self.core.model_info()


#: This process's request metrics (``None`` when switched off), shared with the guard.
REQUEST_METRICS = RequestMetrics(Mercato.apis) if _metrics_enabled() else None
Mercato.add_asgi_middleware(Guard, metrics=REQUEST_METRICS)
