"""The chat page (``GET /chat``) and the text rule of ``/assist``, as one small ASGI middleware.

The page is one static HTML file with its script inline (``serving/assistant/chat.html``, no
build step) that posts the customer's messages to ``/assist`` and shows the replies; the API
key and a customer id can be given in the address (``/chat#key=...&customer=12485``). The page
itself is open like the API page; ``/assist`` behind it needs the key as every endpoint does.

``/assist`` takes free text, so a body that is not UTF-8 is refused with 415 naming the
problem (JSON is UTF-8 by RFC 8259); the guard in front has already bounded its size.
"""

from __future__ import annotations

import json
from pathlib import Path

from serving.guard import ASGIApp, Message, Receive, Scope, Send, _replay, _response

PAGE_PATH = "/chat"
ASSIST_PATH = "/assist"
PAGE = Path(__file__).parent / "assistant" / "chat.html"


class ChatPage:
    """ASGI middleware: answers ``GET /chat``, checks ``POST /assist`` bodies are UTF-8."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.page = PAGE.read_bytes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope.get("path"), scope.get("method")
        if path == PAGE_PATH and method in ("GET", "HEAD"):
            start, body = _response(200, self.page, b"text/html; charset=utf-8")
            if method == "HEAD":
                body = {**body, "body": b""}
            await send(start)
            await send(body)
            return
        if path != ASSIST_PATH or method != "POST":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as err:
            error = {
                "error": f"the body is not UTF-8 text (byte {raw[err.start]:#04x} at offset "
                f"{err.start}): send the message as UTF-8 JSON"
            }
            start, body = _response(415, json.dumps(error).encode(), b"application/json", [])
            await send(start)
            await send(body)
            return
        await self.app(scope, _replay(raw, receive), send)
