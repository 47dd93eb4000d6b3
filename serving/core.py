"""What the endpoints stand on, independent of the web framework.

``MercatoCore`` holds the champions of every family (``serving.champions``), the online
feature store and the endpoints of every family's API module (``serving.apis``); each handler
answers a typed request with a typed response from them. The BentoML service is a thin shell
around it, and so is the bare FastAPI app the bench compares against, so both run exactly the
same model code. Errors a caller can act on are raised as ``ServingError`` with an HTTP status
and a message that says what to do; the shells turn them into JSON responses.
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
from serving.champions import ALIAS, ChampionTracker, LoadedModel

logger = logging.getLogger("mercato.serving")

#: Shown in examples when no served model knows a customer (the UCI file's busiest one).
FALLBACK_CUSTOMER = "17850"
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


class MercatoCore:
    """The service's behaviour: champions and online features in, typed answers out."""

    def __init__(
        self,
        settings: Settings,
        tracker: ChampionTracker | None = None,
        features: CustomerFeatureSource | None = None,
        poll_seconds: float | None = None,
    ) -> None:
        from serving.apis import family_apis

        self.settings = settings
        poll = settings.model_poll_seconds if poll_seconds is None else poll_seconds
        self.tracker = tracker or ChampionTracker(settings, poll_seconds=poll)
        self.features = features or CustomerFeatureSource(settings)
        self.apis = family_apis(settings)
        self.endpoints = {e.name: e for api in self.apis for e in api.endpoints}

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

    def model(self, name: str) -> LoadedModel:
        """The served version of a registered model; 503 when it has no champion yet."""
        loaded = self.tracker.current.get(name)
        if loaded is None:
            raise Unavailable(
                f"no {name} model is being served yet (no '{ALIAS}' in the registry); "
                "train and promote one, the service picks it up without a restart"
            )
        return loaded

    def call(self, endpoint: str, request: BaseModel) -> BaseModel:
        """Answer ``request`` with the handler of ``endpoint`` (what every route does)."""
        return self.endpoints[endpoint].handler(self, request)

    def example_customer(self) -> str:
        """A customer the served models know: the recommender's first, else a fixed id."""
        for api in self.apis:
            loaded = self.tracker.current.get(api.model_name) if api.model_name else None
            users = getattr(loaded.model, "user_ids", None) if loaded else None
            if users is not None and len(users):
                return str(users[0])
        return FALLBACK_CUSTOMER

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
            worker_pid=os.getpid(),
        )
