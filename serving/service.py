"""The Mercato HTTP service: every model family's endpoints behind one BentoML service.

Run it with ``mercato serve`` (or ``bentoml serve serving.service:Mercato`` from the checkout).
The API methods are generated from the one list of families (``models.family.families``):
each family's API module (``serving.apis.<family>``) declares its endpoints, and
:func:`with_endpoints` turns every one into a typed ``@bentoml.api`` method before BentoML
collects them, so a new family adds its routes without an edit here. The list is read from the
settings when this module is imported (``MERCATO_EXTRA_FAMILIES`` adds plug-in families), in
every BentoML process alike.

- Every endpoint is a POST with a JSON body; the API page at ``/`` (``serving.openapi``)
  groups them by family, with a summary and an example that answers on the served data.
  Every answer names the registry version that produced it.
- Models: the ``champion`` of each registered model, resolved at start-up and followed
  afterwards (``MERCATO_MODEL_POLL_SECONDS``): a newly promoted version is loaded beside the
  old one and swapped in atomically (see ``serving.champions``).
- Unknown customer: 200 with the documented default (popular items with ``cold_start: true``;
  ``known_customer: false`` and nulls for segment and propensity). Unknown product: 404.
  Invalid input: 400 naming the field. Online store down, or no champion yet: 503, and the
  service recovers by itself. Oversized body: 413; not JSON: 415.
- ``MERCATO_API_KEY`` set: every call except health checks and docs needs the key (401).
- Workers: ``MERCATO_SERVE_WORKERS`` processes (default 1) share the port. Each one loads the
  champions and runs its own alias poll, so every worker swaps to a new champion within
  ``MERCATO_MODEL_POLL_SECONDS`` of the move (not all at the same instant); ``/model_info``
  names the worker that answered (``worker_pid``). ``/metrics`` and ``/admin_forget`` reach
  one worker per call: the others drop a forgotten customer at their next alias check.
- Overhead kept low (see ``serving.hotpath``): each API is bound once at start-up, and the
  start-up heap is frozen out of the garbage collector's full collections (again after every
  swap). BentoML's OpenTelemetry spans are not built (its default sample rate is 0, so they
  were thrown away, yet cost more than the models' arithmetic), no access log. Prometheus
  metrics on ``/metrics`` come from ``serving.metrics`` instead of BentoML's (about 20 µs a
  request); ``MERCATO_SERVING_METRICS=0`` switches them off.

Endpoints that only need a model are ``async`` (microseconds of NumPy on the event loop);
those that read the online store are sync and run in BentoML's thread pool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import bentoml
from starlette.responses import Response

from mercato.settings import get_settings
from serving.apis import Endpoint, family_apis
from serving.chat import ChatPage
from serving.core import MercatoCore, answer
from serving.guard import Guard
from serving.hotpath import bind_api_methods, freeze_heap, refreeze_heap
from serving.metrics import RequestMetrics
from serving.openapi import DocsMiddleware


def _log_to_stderr() -> None:
    """Make our start-up and swap messages visible in the server log."""
    logger = logging.getLogger("mercato")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def api_method(endpoint: Endpoint) -> Any:
    """A ``@bentoml.api`` method that answers ``endpoint``'s requests through its handler.

    BentoML reads the request type from the function's annotations (real classes here, never
    strings), runs ``async def`` methods on the event loop and plain ones in its thread pool,
    and takes the API's name and route from ``__name__``.
    """
    handler = endpoint.handler

    if endpoint.is_async:

        async def method(self: Any, request: Any, /) -> Response:
            return answer(lambda r: handler(self.core, r), request)
    else:

        def method(self: Any, request: Any, /) -> Response:
            return answer(lambda r: handler(self.core, r), request)

    method.__name__ = endpoint.name
    method.__qualname__ = f"Mercato.{endpoint.name}"
    method.__doc__ = endpoint.description or endpoint.summary
    method.__annotations__ = {"request": endpoint.request, "return": Response}
    return bentoml.api(route=endpoint.route, output_spec=endpoint.response)(method)


def with_endpoints(endpoints: Iterable[Endpoint]) -> Callable[[type], type]:
    """A class decorator (under ``@bentoml.service``) adding one API method per endpoint."""

    def decorate(cls: type) -> type:
        for endpoint in endpoints:
            if hasattr(cls, endpoint.name):
                raise ValueError(f"endpoint {endpoint.name!r} clashes with Mercato.{endpoint.name}")
            setattr(cls, endpoint.name, api_method(endpoint))
        return cls

    return decorate


#: The settings this module is built from, read once per process: BentoML's arbiter reads the
#: worker count from the decorator below, and every worker imports this module again.
SETTINGS = get_settings()
#: Every family's API (and the service's own).
APIS = family_apis(SETTINGS)
ENDPOINTS = [endpoint for api in APIS for endpoint in api.endpoints]


@bentoml.service(
    name="mercato",
    workers=SETTINGS.serve_workers,
    threads=4,
    traffic={"timeout": 10},
    logging={"access": {"enabled": False}},
    tracing={"excluded_urls": ".*"},
    metrics={"enabled": False},  # serving.metrics keeps them, for a fraction of the cost
)
@with_endpoints(ENDPOINTS)
class Mercato:
    """The champions of every Mercato model family behind one typed HTTP API."""

    def __init__(self) -> None:
        from mercato.settings import apply_runtime_env

        _log_to_stderr()
        settings = get_settings()
        apply_runtime_env(settings)
        self.core = MercatoCore(settings)
        self.core.start()
        bind_api_methods(self, Mercato.apis)
        if REQUEST_METRICS is not None:
            from monitoring import latest_result_path
            from serving.metrics import MonitorGauges

            REQUEST_METRICS.served_versions = self.core.tracker.served_versions
            REQUEST_METRICS.monitor = MonitorGauges(latest_result_path(settings))
        DocsMiddleware.core = self.core
        self.core.tracker.on_swap.append(lambda _swaps: refreeze_heap())
        freeze_heap()

    def __is_ready__(self) -> bool:
        return any(self.core.tracker.served_versions().values())

    @bentoml.on_shutdown
    def _shutdown(self) -> None:
        self.core.stop()


#: This process's request metrics (``None`` when switched off), shared with the guard.
REQUEST_METRICS = RequestMetrics([e.name for e in ENDPOINTS]) if SETTINGS.serving_metrics else None
# The guard stays outermost (the first middleware added is the outermost one).
Mercato.add_asgi_middleware(Guard, metrics=REQUEST_METRICS)
Mercato.add_asgi_middleware(DocsMiddleware, service=Mercato, apis=APIS)
Mercato.add_asgi_middleware(ChatPage)
