"""Drive an ASGI app once from a unit test (no server)."""

from __future__ import annotations

import asyncio
import json
from typing import Any


def call_guard(app: Any, path: str, key: bytes | None = None) -> tuple[int, dict, Any]:
    """POST ``{}`` to ``path``; returns (status, headers, JSON body or None)."""
    sent: list[dict] = []
    pending = [b"{}"]

    async def receive() -> dict:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json")]
    if key is not None:
        headers.append((b"x-api-key", key))
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    raw = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), json.loads(raw) if raw else None
