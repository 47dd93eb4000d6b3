"""The API page: Mercato's own OpenAPI document at ``/docs.json`` and a Swagger page at ``/``.

BentoML 1.4 has no option for the document's title, version, description, tags, summaries or
request examples (``_bentoml_sdk/service/openapi.py`` hard-codes its name, a version of
``None``, its own README with help links and one flat tag), and its page at ``/`` loads Google
Tag Manager. So this middleware answers ``GET /docs.json`` with BentoML's spec rewritten from
the families' API declarations (``serving.apis``): Mercato's title and version, a description
of authentication, error statuses and defaults, one tag per family with its summary, a summary
on every operation, and an example request on every operation built from the models being
served (so each example answers 200 on the data being served). ``GET /`` is a Swagger page
that loads only BentoML's local ``./static_content/`` assets.

The document must describe every answer the service gives, since clients and the API fuzzer
(``devtools/fuzz_api.py``, in CI) validate answers against it. So it also corrects BentoML's:

- Request and answer schemas are pydantic's own. BentoML inlines flattened copies that keep
  only the first branch of every ``anyOf``, which turned ``int | None`` into ``integer`` and
  made every documented null (an unknown customer's segment or probability) a violation.
- Every error status the service answers is documented, with ``ErrorResponse`` as its body:
  400 (the guard's readable validation errors, whose ``detail`` is pydantic's list, not the
  string BentoML declares), 401 when an API key is required, 404, 413, 415, and 503 on the
  families' endpoints.
- When the service requires an API key, the bearer and ``X-API-Key`` schemes are declared on
  every operation behind the key, so clients (and Swagger's "Authorize") know to send it.
"""

from __future__ import annotations

import copy
import html
import json
import logging
from importlib import metadata
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode

from serving.apis import Endpoint, FamilyApi
from serving.schemas import ErrorResponse

if TYPE_CHECKING:
    from serving.core import MercatoCore

logger = logging.getLogger("mercato.serving")

TITLE = "Mercato API"
DESCRIPTION = """\
Models for e-commerce marketing, trained, gated and served by Mercato. Every endpoint is a
`POST` with a JSON body, and every answer names the registry version of the model that gave it
(the `champion` alias, followed without a restart).

**Authentication.** When the service runs with `MERCATO_API_KEY`, every call except the health
checks and this page needs `Authorization: Bearer <key>` (or `X-API-Key: <key>`); without it
the answer is 401. `/metrics` needs the key too.

**Errors.** 400: invalid input, with `error` saying what is wrong and `field` naming the field.
404: an unknown product. 413: a body over the size limit (1 MiB by default). 415: a body that
is not JSON. 503: no model of the family has been promoted yet, or the online feature store is
down; retry, the service recovers by itself. Nothing a client sends produces a 5xx otherwise.

**Defaults for unknown customers.** A customer without history is not an error: `/recommend`
answers the most popular products with `cold_start: true`; `/segment` and `/propensity` answer
`known_customer: false` with a null segment or probability.
"""
INFRA_TAG = "infrastructure"
INFRA_SUMMARIES = {
    "/healthz": "Liveness (the same as /livez)",
    "/livez": "Liveness probe",
    "/readyz": "Readiness probe: 200 once the models are loaded",
    "/metrics": "Prometheus metrics of this worker (needs the API key when one is set)",
}
#: Where the document keeps its named schemas (pydantic's ``$defs`` are moved there).
REF_TEMPLATE = "#/components/schemas/{model}"
ERROR_SCHEMA = ErrorResponse.__name__
#: The error statuses of every POST operation, and when each is answered.
ERROR_STATUSES = {
    "400": "Invalid input: `error` says what is wrong, `field` names the (first) field at "
    "fault and `detail` lists every validation error.",
    "404": "Not found: an unknown product (`field` names it).",
    "413": "Request body over the size limit (`MERCATO_MAX_BODY_BYTES`, 1 MiB by default).",
    "415": "The body is not JSON: send `Content-Type: application/json`.",
}
UNAUTHORIZED = "Missing or wrong API key."
UNAVAILABLE = (
    "No model of the family is being served yet, or the online feature store is down; "
    "retry, the service recovers by itself."
)
#: The schemes a key-protected operation accepts (either one).
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <key>`, the key the service runs with.",
    },
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "`X-API-Key: <key>`, the same key.",
    },
}
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]
PAGE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>{title}</title>
    <link rel="stylesheet" type="text/css" href="./static_content/swagger-ui.css" />
    <link rel="stylesheet" type="text/css" href="./static_content/index.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="./static_content/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="./static_content/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
    <script src="./static_content/swagger-initializer.js" charset="UTF-8"></script>
  </body>
</html>
"""


def version() -> str:
    """The installed Mercato distribution's version."""
    try:
        return metadata.version("mercato")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _examples(api: FamilyApi, core: MercatoCore | None) -> dict[str, dict[str, Any]]:
    """Each endpoint's example body, built from the served models where it is a function."""
    out: dict[str, dict[str, Any]] = {}
    for endpoint in api.endpoints:
        example = endpoint.example
        if example is None:
            continue
        if callable(example):
            if core is None:
                continue
            try:
                example = example(core)
            except Exception:  # noqa: BLE001 - no model served yet: the page shows none
                continue
        out[endpoint.name] = dict(example)
    return out


def _schema(
    model: type[BaseModel], mode: JsonSchemaMode, components: dict[str, Any]
) -> dict[str, Any]:
    """``model``'s JSON Schema as pydantic writes it, its ``$defs`` moved into ``components``."""
    schema = model.model_json_schema(ref_template=REF_TEMPLATE, mode=mode)
    components.update(schema.pop("$defs", {}))
    return schema


def _responses(operation: dict[str, Any]) -> dict[str, Any]:
    """The operation's responses keyed by strings (BentoML keys its 200 by the number)."""
    responses = {str(status): value for status, value in operation.get("responses", {}).items()}
    operation["responses"] = responses
    return responses


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": REF_TEMPLATE.format(model=ERROR_SCHEMA)}}
        },
    }


def _document_operation(
    operation: dict[str, Any],
    endpoint: Endpoint,
    api: FamilyApi,
    components: dict[str, Any],
    auth: bool,
) -> None:
    """Pydantic's request and answer schemas, and every error status, on one POST operation."""
    body = operation.setdefault("requestBody", {}).setdefault("content", {})
    body.setdefault("application/json", {})["schema"] = _schema(
        endpoint.request, "validation", components
    )
    responses = _responses(operation)
    ok = responses.setdefault("200", {"description": "Successful Response"})
    ok["content"] = {
        "application/json": {"schema": _schema(endpoint.response, "serialization", components)}
    }
    for status, description in ERROR_STATUSES.items():
        responses[status] = _error(description)
    if auth:
        responses["401"] = _error(UNAUTHORIZED)
        operation["security"] = copy.deepcopy(SECURITY)
    if api.model_name is not None:  # the family's model may have no champion yet
        responses["503"] = _error(UNAVAILABLE)
    if endpoint.name.startswith("admin_"):
        responses["403"] = _error("The service runs without an API key: admin calls are refused.")
        responses["503"] = _error("The erasure could not finish (the warehouse is busy); retry.")
    operation["responses"] = dict(sorted(responses.items()))


def build_spec(
    spec: dict[str, Any], apis: list[FamilyApi], core: MercatoCore | None, auth: bool = False
) -> dict[str, Any]:
    """BentoML's ``spec`` with Mercato's info, tags, summaries, examples, schemas and errors.

    ``auth``: the service requires an API key (``MERCATO_API_KEY``), so the operations behind
    it declare the schemes and a 401.
    """
    spec = copy.deepcopy(spec)
    # pydantic 2 writes JSON Schema 2020-12, OpenAPI 3.1's dialect (not 3.0's, as BentoML says)
    spec["openapi"] = "3.1.0"
    spec["info"] = {"title": TITLE, "version": version(), "description": DESCRIPTION}
    spec["tags"] = [{"name": api.tag, "description": api.description} for api in apis] + [
        {"name": INFRA_TAG, "description": "Health checks and metrics."}
    ]
    paths = spec.get("paths", {})
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    components[ERROR_SCHEMA] = _schema(ErrorResponse, "serialization", components)
    if auth:
        spec["components"]["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
    for api in apis:
        examples = _examples(api, core)
        for endpoint in api.endpoints:
            operation = paths.get(endpoint.route, {}).get("post")
            if operation is None:
                continue
            operation["tags"] = [api.tag]
            operation["summary"] = endpoint.summary
            _document_operation(operation, endpoint, api, components, auth)
            if endpoint.name in examples:
                media = operation.setdefault("requestBody", {}).setdefault("content", {})
                body = media.setdefault("application/json", {})
                body["examples"] = {
                    "served": {
                        "summary": "answers on the data being served",
                        "value": examples[endpoint.name],
                    }
                }
    for path, summary in INFRA_SUMMARIES.items():
        for operation in paths.get(path, {}).values():
            operation["tags"] = [INFRA_TAG]
            operation["summary"] = summary
    _document_infra(paths, auth)
    _tidy(spec)
    return spec


def _document_infra(paths: dict[str, Any], auth: bool) -> None:
    """What the health checks and ``/metrics`` answer besides BentoML's bare 200."""
    readyz = paths.get("/readyz", {}).get("get")
    if readyz is not None:
        _responses(readyz)["503"] = {"description": "The models are not loaded yet."}
    metrics = paths.get("/metrics", {}).get("get")
    if metrics is not None:
        responses = _responses(metrics)
        ok = responses.setdefault("200", {"description": "Successful Response"})
        ok["content"] = {"text/plain": {"schema": {"type": "string"}}}
        if auth:
            responses["401"] = _error(UNAUTHORIZED)
            metrics["security"] = copy.deepcopy(SECURITY)


def _tidy(node: Any) -> None:
    """Drop BentoML's non-standard ``root_input`` key and the ``IODescriptor`` title suffix."""
    if isinstance(node, dict):
        node.pop("root_input", None)
        title = node.get("title")
        if isinstance(title, str) and title.endswith("IODescriptor"):
            node["title"] = title[: -len("IODescriptor")]
        for value in node.values():
            _tidy(value)
    elif isinstance(node, list):
        for value in node:
            _tidy(value)


class DocsMiddleware:
    """ASGI middleware answering ``GET /docs.json`` and ``GET /``; everything else passes.

    The document is built at the first request after the champions are loaded (the examples
    come from them) and again after a swap, so examples follow the served data.
    """

    #: the service instance's core, set when the service starts (one per worker process)
    core: ClassVar[MercatoCore | None] = None

    def __init__(self, app: Any, service: Any, apis: list[FamilyApi]) -> None:
        from mercato.settings import get_settings

        self.app = app
        self.service = service
        self.apis = apis
        #: the guard reads the same setting, so the document says what it enforces
        self.auth = bool(get_settings().api_key)
        self._spec: tuple[Any, bytes] | None = None
        self._page = PAGE.format(title=html.escape(TITLE)).encode()

    def spec_bytes(self) -> bytes:
        core = type(self).core
        stamp = core.tracker.served_versions() if core is not None else None
        if self._spec is None or self._spec[0] != stamp:
            spec = build_spec(self.service.openapi_spec.asdict(), self.apis, core, self.auth)
            self._spec = (stamp, json.dumps(spec, separators=(",", ":")).encode())
        return self._spec[1]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD"):
            path = scope.get("path")
            if path == "/docs.json":
                try:
                    spec = self.spec_bytes()
                except Exception:  # noqa: BLE001 - say why in the log; BentoML would hide it
                    logger.exception("could not build the OpenAPI document")
                    error = b'{"error":"the API document could not be built; see the log"}'
                    await self._send(scope, send, error, b"application/json", status=500)
                    return
                await self._send(scope, send, spec, b"application/json")
                return
            if path == "/":
                await self._send(scope, send, self._page, b"text/html; charset=utf-8")
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _send(
        scope: Any, send: Any, body: bytes, content_type: bytes, status: int = 200
    ) -> None:
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        payload = b"" if scope["method"] == "HEAD" else body
        await send({"type": "http.response.body", "body": payload, "more_body": False})
