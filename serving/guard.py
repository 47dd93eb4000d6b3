"""The service's front door: API key, body size, content type, and readable validation errors.

A plain ASGI middleware (no per-request objects beyond what it must read), so it costs
microseconds. In order, for every HTTP request:

1. API key. When ``settings.api_key`` (env ``MERCATO_API_KEY``) is set, every path except the
   health checks and the API documentation needs ``Authorization: Bearer <key>`` or
   ``X-API-Key: <key>``; otherwise the answer is 401.
2. POST bodies must be JSON (415 otherwise) and at most ``settings.max_body_bytes`` (env
   ``MERCATO_MAX_BODY_BYTES``, default 1 MiB; 413 otherwise): a declared Content-Length is
   checked before anything is read, and a chunked body is counted while it is read here, so an
   oversized one never reaches the parser.
3. BentoML answers invalid input with 400 and pydantic's error list. The first error's field is
   lifted into ``field`` and every error is summarised in ``error``, so a caller reads at once
   which field is wrong; the original list stays in ``detail``.

Given a ``RequestMetrics``, it also times and counts every request, refusals included, and
answers ``GET /metrics`` (behind the API key like everything else but the health checks).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from serving.metrics import CONTENT_TYPE, METRICS_PATH, RequestMetrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Reachable without a key: orchestrators probe these, and the docs describe the API.
OPEN_PATHS = frozenset(
    {"/healthz", "/livez", "/readyz", "/", "/docs.json", "/schema.json", "/chat"}
)
OPEN_PREFIXES = ("/static_content/", "/assets/")
READ_METHODS = frozenset({"GET", "HEAD"})
UNAUTHORIZED = {
    "error": "missing or wrong API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
}


def _response(
    status: int, payload: bytes, content_type: bytes, extra: list[tuple[bytes, bytes]] = ()
) -> tuple[Message, Message]:
    """The two ASGI messages of a complete response."""
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(payload)).encode()),
        *extra,
    ]
    return (
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": payload, "more_body": False},
    )


def describe_validation_errors(detail: list[dict[str, Any]]) -> tuple[str, str | None]:
    """(one-line summary naming each field, dotted path of the first field) of pydantic errors."""
    parts = []
    first_field: str | None = None
    for err in detail[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        name = ".".join(loc)
        if err.get("type") == "json_invalid":
            parts.append(f"the body is not valid JSON ({err.get('msg', '')})")
            continue
        if first_field is None and name:
            first_field = name
        parts.append(f"{name or 'body'}: {err.get('msg', 'invalid')}")
    if len(detail) > 5:
        parts.append(f"... and {len(detail) - 5} more")
    return "invalid request: " + "; ".join(parts), first_field


class Guard:
    """ASGI middleware; ``api_key`` and ``max_body`` default to the settings at start-up."""

    def __init__(
        self,
        app: ASGIApp,
        api_key: str | None = None,
        max_body: int | None = None,
        metrics: RequestMetrics | None = None,
    ):
        from mercato.settings import get_settings

        self.app = app
        self.metrics = metrics
        settings = get_settings()
        api_key = settings.api_key if api_key is None else api_key
        self.api_key = api_key.encode() if api_key else b""
        self.max_body = settings.max_body_bytes if max_body is None else max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = None
        if self.metrics is not None and scope["type"] == "http":
            endpoint = self.metrics.endpoint_of(scope.get("path", ""))
        if endpoint is None:
            await self._guard(scope, receive, send)
            return
        metrics = self.metrics
        status = 500  # what the server answers if nothing below starts a response
        started = time.perf_counter()
        metrics.started(endpoint)

        async def counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._guard(scope, receive, counted)
        except asyncio.CancelledError:
            status = 504  # BentoML's request timeout, which answers 504 itself
            raise
        finally:
            metrics.finished(endpoint, status, time.perf_counter() - started)

    async def _guard(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        content_type = length = given_key = auth = b""
        for name, value in scope.get("headers", ()):  # one pass over the headers
            if name == b"content-type":
                content_type = value
            elif name == b"content-length":
                length = value
            elif name == b"x-api-key":
                given_key = value
            elif name == b"authorization":
                auth = value
        if self.api_key and not self._is_open(scope.get("path", "")):
            if not given_key:
                scheme, _, token = auth.partition(b" ")
                given_key = token.strip() if scheme.lower() == b"bearer" else b""
            if not (given_key and hmac.compare_digest(given_key, self.api_key)):
                await self._reply(send, 401, UNAUTHORIZED, [(b"www-authenticate", b"Bearer")])
                return
        method = scope.get("method")
        if method != "POST":
            # Only a read gets the metrics; PUT, DELETE... on /metrics get the app's 404/405.
            if (
                self.metrics is not None
                and method in READ_METHODS
                and scope.get("path") == METRICS_PATH
            ):
                start, body = _response(200, self.metrics.render(), CONTENT_TYPE.encode())
                await send(start)
                await send(body)
                return
            await self.app(scope, receive, send)
            return
        if content_type:
            base = content_type.split(b";", 1)[0].strip().lower()
            if base not in (b"application/json", b"text/json"):
                error = f"send JSON (Content-Type: application/json), not {base.decode()!r}"
                await self._reply(send, 415, {"error": error})
                return
        if length.isdigit():
            # The server never hands over more than the declared length: check it and go on.
            if int(length) > self.max_body:
                await self._reply(send, 413, self._too_large())
                return
            await self.app(scope, receive, _readable_400(send))
            return
        # No length declared (chunked): count while reading, then hand the body on.
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body:
                await self._reply(send, 413, self._too_large())
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), _readable_400(send))

    # -- helpers ------------------------------------------------------------------------------
    def _too_large(self) -> dict[str, Any]:
        return {"error": f"request body larger than {self.max_body} bytes; send smaller batches"}

    @staticmethod
    def _is_open(path: str) -> bool:
        return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)

    @staticmethod
    async def _reply(
        send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]] = ()
    ) -> None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        start, payload = _response(status, payload, b"application/json", list(extra))
        await send(start)
        await send(payload)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body once, then waits on the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _readable_400(send: Send) -> Send:
    """A ``send`` that rewrites BentoML's 400 validation bodies; other responses pass through."""
    held: Message | None = None
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        nonlocal held
        if message["type"] == "http.response.start" and message.get("status") == 400:
            held = message
            return
        if held is None or message["type"] != "http.response.body":
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        raw = b"".join(chunks)
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("detail"), list):
            error, field = describe_validation_errors(data["detail"])
            data = {"error": error, "field": field, "detail": data["detail"]}
            raw = json.dumps(data, separators=(",", ":")).encode()
        headers = [(k, v) for k, v in held.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(raw)).encode()))
        await send({**held, "headers": headers})
        await send({"type": "http.response.body", "body": raw, "more_body": False})

    return wrapped
