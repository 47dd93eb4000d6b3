"""What each endpoint does, independent of the web framework.

``MercatoCore`` answers typed requests (``serving.schemas``) with typed responses, using the
champions of ``serving.champions`` and the online feature store. The BentoML service is a thin
shell around it, and so is the bare FastAPI app the bench compares against, so both run exactly
the same model code. Errors a caller can act on are raised as ``ServingError`` with an HTTP
status and a message that says what to do; the shells turn them into JSON responses.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

from features import CUSTOMER_FEATURES
from mercato.settings import Settings
from serving import schemas as s
from serving.champions import (
    ALIAS,
    PROPENSITY,
    RECOMMENDER,
    SEGMENTATION,
    ChampionTracker,
    LoadedModel,
)

logger = logging.getLogger("mercato.serving")

#: Env var: seconds between checks of the ``champion`` alias (0 switches following off).
POLL_ENV = "MERCATO_MODEL_POLL_SECONDS"
DEFAULT_POLL_SECONDS = 30.0
#: After the online store failed, a new reader is built at most this often (seconds).
REBUILD_INTERVAL = 1.0


class ServingError(Exception):
    """An answer other than 200 that the caller can act on (never a server bug)."""

    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out


def answer(fn: Callable[[Any], BaseModel], request: Any) -> Response:
    """Run one core call and answer with its JSON; a ``ServingError`` becomes its error response.

    The answer is serialized here (pydantic's ``model_dump_json``, as BentoML itself would)
    into one complete response: BentoML's own path streams it as three ASGI messages through
    every middleware, which cost about 10 µs a request. Each API's ``output_spec`` still
    documents the answer's schema.
    """
    try:
        result = fn(request)
    except ServingError as exc:
        return JSONResponse(exc.body(), status_code=exc.status)
    return Response(result.model_dump_json(), media_type="application/json")


class NotFound(ServingError):
    status = 404


class Unavailable(ServingError):
    """The service cannot answer right now (no model yet, online store down); retry later."""

    status = 503


def poll_seconds_from_env() -> float:
    raw = os.environ.get(POLL_ENV, "")
    try:
        return float(raw) if raw.strip() else DEFAULT_POLL_SECONDS
    except ValueError:
        logger.warning("%s=%r is not a number; using %s", POLL_ENV, raw, DEFAULT_POLL_SECONDS)
        return DEFAULT_POLL_SECONDS


ReaderFactory = Callable[[Settings], Any]


def _default_reader(settings: Settings) -> Any:
    from features.online import OnlineFeatureReader

    return OnlineFeatureReader(settings)


def _outage_errors() -> tuple[type[BaseException], ...]:
    """The reader's "store down" exception; it reconnects by itself after raising it."""
    from features.online import FeatureStoreUnavailable

    return (FeatureStoreUnavailable,)


class CustomerFeatureSource:
    """Customer features from the Feast online store, as rows ordered like ``CUSTOMER_FEATURES``.

    The reader is built at start-up; if the store is down then (or fails later), requests get a
    503 and a new reader is tried at most every ``REBUILD_INTERVAL`` seconds, so the service
    recovers by itself when the store comes back.
    """

    def __init__(self, settings: Settings, factory: ReaderFactory | None = None) -> None:
        self.settings = settings
        self._factory = factory or _default_reader
        self._reader: Any = None
        self._broken_at = 0.0
        self._last_error = ""
        self._lock = threading.Lock()

    def connect(self) -> bool:
        """Try to build the reader now; False (and a logged reason) when the store is down."""
        try:
            reader = self._reader_or_raise(force=True)
            if hasattr(reader, "warm_up"):
                reader.warm_up()  # import Feast and load its registry now, not on a request
            return True
        except Exception as exc:  # noqa: BLE001 - the service starts anyway and answers 503
            if not isinstance(exc, Unavailable):
                exc = Unavailable(self._unavailable_message(f"{type(exc).__name__}: {exc}"))
            logger.warning("%s", exc.message)
            return False

    def _reader_or_raise(self, force: bool = False) -> Any:
        reader = self._reader
        if reader is not None:
            return reader
        with self._lock:
            if self._reader is not None:
                return self._reader
            if not force and time.monotonic() - self._broken_at < REBUILD_INTERVAL:
                raise Unavailable(self._unavailable_message(self._last_error))
            try:
                self._reader = self._factory(self.settings)
            except Exception as exc:  # noqa: BLE001 - any failure to open the store is an outage
                self._broken_at = time.monotonic()
                self._last_error = f"{type(exc).__name__}: {exc}"
                raise Unavailable(self._unavailable_message(self._last_error)) from exc
            return self._reader

    @staticmethod
    def _unavailable_message(reason: str) -> str:
        return (
            "the online feature store is unavailable, so customer features cannot be read; "
            f"retry shortly ({reason[:300]})"
        )

    def rows(self, customer_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(features (n, d) with missing values as 0, known mask (n,)) for ``customer_ids``."""
        reader = self._reader_or_raise()
        try:
            found = reader.get_customer_features(list(customer_ids))
        except Exception as exc:  # noqa: BLE001 - every failure to read is an outage to callers
            if not isinstance(exc, _outage_errors()):
                # Not the reader's own outage signal: build a new reader, it may be the fault.
                with self._lock:
                    if self._reader is reader:
                        self._reader = None
                        self._broken_at = time.monotonic()
                        self._last_error = f"{type(exc).__name__}: {exc}"
            raise Unavailable(self._unavailable_message(f"{type(exc).__name__}: {exc}")) from exc
        x = np.zeros((len(customer_ids), len(CUSTOMER_FEATURES)), dtype=np.float64)
        known = np.zeros(len(customer_ids), dtype=bool)
        for i, cid in enumerate(customer_ids):
            values = found.get(cid)
            if not values:
                continue
            known[i] = True
            for j, name in enumerate(CUSTOMER_FEATURES):
                v = values.get(name)
                if v is not None:
                    v = float(v)
                    x[i, j] = v if np.isfinite(v) else 0.0
        return x, known


def _features_row(features: s.CustomerFeatures) -> list[float]:
    return [float(getattr(features, name)) for name in CUSTOMER_FEATURES]


class MercatoCore:
    """The service's behaviour: champions in, typed answers out."""

    def __init__(
        self,
        settings: Settings,
        tracker: ChampionTracker | None = None,
        features: CustomerFeatureSource | None = None,
        poll_seconds: float | None = None,
    ) -> None:
        self.settings = settings
        poll = poll_seconds_from_env() if poll_seconds is None else poll_seconds
        self.tracker = tracker or ChampionTracker(settings, poll_seconds=poll)
        self.features = features or CustomerFeatureSource(settings)

    def start(self) -> None:
        """Load the champions, open the online store, start following the alias.

        Raises ``RuntimeError`` when no model family has a champion at all: a service with
        nothing to serve should fail loudly at start-up. A missing store or a single missing
        family only makes the endpoints that need them answer 503 until they appear.
        """
        self.tracker.refresh()
        served = self.tracker.served_versions()
        if not any(served.values()):
            raise RuntimeError(
                f"no model has a '{ALIAS}' in the registry at {self.settings.tracking_uri}: "
                "train first (mercato train all, or mercato run)"
            )
        missing = [name for name, version in served.items() if version is None]
        if missing:
            logger.warning("no %s for %s yet; their endpoints answer 503", ALIAS, missing)
        self.features.connect()
        self.tracker.start_polling()

    def stop(self) -> None:
        self.tracker.stop()

    # -- helpers ------------------------------------------------------------------------------
    def _model(self, name: str) -> LoadedModel:
        loaded = self.tracker.current.get(name)
        if loaded is None:
            raise Unavailable(
                f"no {name} model is being served yet (no '{ALIAS}' in the registry); "
                "train and promote one, the service picks it up without a restart"
            )
        return loaded

    @staticmethod
    def _items(pairs: Sequence[tuple[str, float]]) -> list[s.ScoredItem]:
        return [s.ScoredItem(stock_code=str(code), score=float(score)) for code, score in pairs]

    # -- recommendations ----------------------------------------------------------------------
    def recommend(self, req: s.RecommendRequest) -> s.RecommendResponse:
        m = self._model(RECOMMENDER)
        return self._recommend_one(m, req.customer_id, req.k, req.exclude_bought)

    def _recommend_one(
        self, m: LoadedModel, customer_id: str, k: int, exclude_bought: bool
    ) -> s.RecommendResponse:
        pairs = m.model.recommend(customer_id, k=k, exclude_bought=exclude_bought)
        return s.RecommendResponse(
            customer_id=customer_id,
            items=self._items(pairs),
            cold_start=not m.model.known_customer(customer_id),
            model_version=m.version,
        )

    def recommend_batch(self, req: s.RecommendBatchRequest) -> s.RecommendBatchResponse:
        m = self._model(RECOMMENDER)
        results = [
            self._recommend_one(m, cid, req.k, req.exclude_bought) for cid in req.customer_ids
        ]
        return s.RecommendBatchResponse(results=results, model_version=m.version)

    # -- similar items ------------------------------------------------------------------------
    def similar_items(self, req: s.SimilarItemsRequest) -> s.SimilarItemsResponse:
        m = self._model(RECOMMENDER)
        try:
            pairs = m.model.similar_items(req.stock_code, k=req.k)
        except KeyError:
            raise NotFound(
                f"unknown product {req.stock_code!r}: it is not in the catalogue of "
                f"{RECOMMENDER} v{m.version}",
                field="stock_code",
            ) from None
        return s.SimilarItemsResponse(
            stock_code=req.stock_code, items=self._items(pairs), model_version=m.version
        )

    def similar_items_batch(self, req: s.SimilarItemsBatchRequest) -> s.SimilarItemsBatchResponse:
        m = self._model(RECOMMENDER)
        results = []
        for code in req.stock_codes:
            try:
                pairs = m.model.similar_items(code, k=req.k)
                results.append(
                    s.SimilarItemsBatchEntry(stock_code=code, found=True, items=self._items(pairs))
                )
            except KeyError:
                results.append(s.SimilarItemsBatchEntry(stock_code=code, found=False, items=[]))
        return s.SimilarItemsBatchResponse(results=results, model_version=m.version)

    # -- segments -----------------------------------------------------------------------------
    def segment(self, req: s.SegmentRequest) -> s.SegmentResponse:
        return self._segments([req.customer_id])[0]

    def segment_batch(self, req: s.SegmentBatchRequest) -> s.SegmentBatchResponse:
        results = self._segments(req.customer_ids)
        return s.SegmentBatchResponse(results=results, model_version=results[0].model_version)

    def _segments(self, customer_ids: Sequence[str]) -> list[s.SegmentResponse]:
        m = self._model(SEGMENTATION)
        x, known = self.features.rows(customer_ids)
        segments = iter(self._assign(m, x[known]))
        profiles = m.prepared["profiles"]
        out = []
        for i, cid in enumerate(customer_ids):
            seg = next(segments) if known[i] else None
            out.append(
                s.SegmentResponse(
                    customer_id=cid,
                    known_customer=bool(known[i]),
                    segment=seg,
                    profile=profiles.get(seg) if seg is not None else None,
                    model_version=m.version,
                )
            )
        return out

    @staticmethod
    def _assign(m: LoadedModel, x: np.ndarray) -> list[int]:
        """Segment ids for rows ordered like ``CUSTOMER_FEATURES``."""
        model = m.model
        if len(x) == 0:
            return []
        if hasattr(model, "assign_many"):
            return [int(v) for v in np.asarray(model.assign_many(x[:, m.prepared["columns"]]))]
        return [int(model.assign(dict(zip(CUSTOMER_FEATURES, row, strict=True)))) for row in x]

    # -- propensity ---------------------------------------------------------------------------
    @staticmethod
    def _probabilities(m: LoadedModel, x: np.ndarray) -> list[float]:
        """Probabilities for rows ordered like ``CUSTOMER_FEATURES``."""
        model = m.model
        if len(x) == 0:
            return []
        if hasattr(model, "predict_proba_many"):
            p = model.predict_proba_many(x[:, m.prepared["columns"]])
            return [float(v) for v in np.asarray(p).ravel()]
        return [
            float(model.predict_proba(dict(zip(CUSTOMER_FEATURES, row, strict=True)))) for row in x
        ]

    def propensity(self, req: s.PropensityRequest) -> s.PropensityResponse:
        return self._propensities([req.customer_id])[0]

    def propensity_batch(self, req: s.PropensityBatchRequest) -> s.PropensityBatchResponse:
        results = self._propensities(req.customer_ids)
        return s.PropensityBatchResponse(results=results, model_version=results[0].model_version)

    def _propensities(self, customer_ids: Sequence[str]) -> list[s.PropensityResponse]:
        m = self._model(PROPENSITY)
        x, known = self.features.rows(customer_ids)
        p = self._probabilities(m, x[known])
        it = iter(p)
        return [
            s.PropensityResponse(
                customer_id=cid,
                known_customer=bool(known[i]),
                probability=next(it) if known[i] else None,
                model_version=m.version,
            )
            for i, cid in enumerate(customer_ids)
        ]

    def propensity_features(self, req: s.PropensityFeaturesRequest) -> s.PropensityFeaturesResponse:
        m = self._model(PROPENSITY)
        x = np.array([_features_row(req.features)], dtype=np.float64)
        return s.PropensityFeaturesResponse(
            probability=self._probabilities(m, x)[0], model_version=m.version
        )

    def propensity_features_batch(
        self, req: s.PropensityFeaturesBatchRequest
    ) -> s.PropensityFeaturesBatchResponse:
        m = self._model(PROPENSITY)
        x = np.array([_features_row(row) for row in req.rows], dtype=np.float64)
        return s.PropensityFeaturesBatchResponse(
            probabilities=self._probabilities(m, x), model_version=m.version
        )

    # -- model info ---------------------------------------------------------------------------
    def model_info(self) -> s.ModelInfoResponse:
        current = self.tracker.current
        models = []
        for name in self.tracker.names:
            loaded = current.get(name)
            models.append(
                s.ServedModel(
                    name=name,
                    version=loaded.version if loaded else None,
                    alias=ALIAS,
                    loaded_at=loaded.loaded_at if loaded else None,
                    details=loaded.details() if loaded else {},
                )
            )
        return s.ModelInfoResponse(
            models=models,
            tracking_uri=self.settings.tracking_uri,
            poll_seconds=self.tracker.poll_seconds,
            last_checked_at=current.checked_at,
        )
