"""The HTTP endpoints each model family adds, declared in one API module per family.

A family names its API module in ``ModelFamily.api``. The module declares:

- ``ENDPOINTS``: a list of :class:`Endpoint` (route name, request and response models, the
  handler, a one-line summary, an example request that answers on the data being served);
- ``REQUIRES``: the attributes a served model must have (checked before it is swapped in);
- optionally ``prepare(model) -> dict``: what requests need, built once when a version loads
  (index arrays, JSON-safe profiles; a ``"details"`` entry shows in ``/model_info``).

Handlers take the service's :class:`serving.core.MercatoCore` (the models being served, the
online features) and the validated request, and return the response model; errors a caller can
act on are raised as ``serving.core.ServingError``. The service (``serving.service``) turns
every endpoint of every family into a BentoML API, grouped on the API page by family.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from mercato.settings import Settings
from models.family import ModelFamily, families

if TYPE_CHECKING:
    from serving.core import MercatoCore

Handler = Callable[["MercatoCore", Any], BaseModel]
#: an example request body, or a function of the core that picks one from the served models
Example = Mapping[str, Any] | Callable[["MercatoCore"], Mapping[str, Any]]


@dataclass(frozen=True)
class Endpoint:
    """One POST route of the HTTP API."""

    name: str
    request: type[BaseModel]
    response: type[BaseModel]
    handler: Handler
    summary: str
    #: async endpoints run on the event loop (microseconds of NumPy); the others, which read
    #: the online store, in BentoML's thread pool
    is_async: bool = True
    example: Example | None = None
    description: str = ""

    @property
    def route(self) -> str:
        return f"/{self.name}"


@dataclass(frozen=True)
class FamilyApi:
    """A family with the endpoints, serving requirements and preparation its module declares."""

    family: ModelFamily | None
    tag: str
    description: str
    #: the registered model the endpoints answer with (None: they use no model of their own)
    model_name: str | None
    endpoints: list[Endpoint]
    requires: tuple[str, ...] = ()
    prepare: Callable[[Any], dict[str, Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _load(module_name: str, family: ModelFamily | None, tag: str, description: str) -> FamilyApi:
    module = importlib.import_module(module_name)
    endpoints = list(getattr(module, "ENDPOINTS", []))
    if not all(isinstance(e, Endpoint) for e in endpoints):
        raise TypeError(f"{module_name}.ENDPOINTS must be a list of serving.apis.Endpoint")
    return FamilyApi(
        family=family,
        tag=tag,
        description=description,
        model_name=family.registered_model if family else None,
        endpoints=endpoints,
        requires=tuple(getattr(module, "REQUIRES", ())),
        prepare=getattr(module, "prepare", None),
    )


#: The service's own endpoints (model info), after every family's.
SERVICE_API = "serving.apis.info"


def family_apis(settings: Settings | None = None) -> list[FamilyApi]:
    """Every family's API (families without one are skipped), then the service's own.

    Raises ``ValueError`` when two endpoints share a name: BentoML would route one and
    document the other.
    """
    apis = [_load(f.api, f, f.name, f.summary or f.name) for f in families(settings) if f.api]
    apis.append(_load(SERVICE_API, None, "service", "What the service serves, and its health."))
    seen: dict[str, str] = {}
    for api in apis:
        for endpoint in api.endpoints:
            if endpoint.name in seen:
                raise ValueError(
                    f"endpoint {endpoint.name!r} of {api.tag} is already declared by "
                    f"{seen[endpoint.name]}"
                )
            seen[endpoint.name] = api.tag
    return apis


__all__ = ["Endpoint", "FamilyApi", "family_apis"]
