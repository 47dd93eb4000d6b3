"""The chat page in a real headless Chromium: type a question, read the answer.

Chromium is driven over its DevTools protocol (``websockets``, already locked; Playwright is
not a dependency and would download a browser): the page is opened on the session's
``bentoml serve`` with the API key in its address, the question is typed into the box with
``Input.insertText`` and sent with the button, and the test waits for the reply the page's
script renders from ``/assist``. Skipped where Chromium is not installed (``apt-get install
chromium``), except under CI (``MERCATO_REQUIRE_SERVERS=1``), which installs it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.serving.conftest import API_KEY
from tests.needs_servers import REQUIRE_SERVERS_ENV

pytestmark = pytest.mark.slow

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "chromium is not installed (apt-get install chromium): the chat page test skips"
    if os.environ.get(REQUIRE_SERVERS_ENV) == "1":
        pytest.fail(f"{message} ({REQUIRE_SERVERS_ENV}=1: CI must not skip it)")
    pytest.skip(message)


class Page:
    """One page target of Chromium's DevTools protocol."""

    def __init__(self, url: str) -> None:
        from websockets.sync.client import connect

        self.ws = connect(url, max_size=None, open_timeout=20)
        self._ids = itertools.count(1)

    def call(self, method: str, **params) -> dict:
        number = next(self._ids)
        self.ws.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, seconds: float = 30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expression}")


@contextlib.contextmanager
def browser(url: str, profile: Path) -> Iterator[Page]:
    from serving.launch import free_port

    port = free_port()
    proc = subprocess.Popen(
        [
            chromium_path(),
            *FLAGS,
            f"--remote-debugging-port={port}",
            f"--user-data-dir={profile}",
            url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        target = None
        while target is None and time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                pages = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                target = next((p for p in pages if p.get("type") == "page"), None)
            if target is None:
                time.sleep(0.2)
        assert target is not None, "chromium's DevTools endpoint did not come up"
        page = Page(target["webSocketDebuggerUrl"])
        try:
            yield page
        finally:
            page.ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_typing_a_question_in_the_chat_page_shows_the_assistants_answer(server, tmp_path) -> None:
    url = f"{server.url}/chat#key={API_KEY}"
    with browser(url, tmp_path / "profile") as page:
        page.call("Runtime.enable")
        page.wait_for("document.readyState === 'complete' && !!document.getElementById('message')")
        page.evaluate("document.getElementById('message').focus()")
        page.call("Input.insertText", text="what is your refund policy?")
        page.evaluate("document.getElementById('send').click()")
        reply = page.wait_for(
            "(function(){var b=document.querySelectorAll('#log .bot');"
            "return b.length ? b[b.length-1].textContent : null})()"
        )
        assert "returns.md" in reply, reply
        assert page.evaluate("document.querySelector('#log .me').textContent") == (
            "what is your refund policy?"
        )
        assert page.evaluate("document.querySelector('#log .bot').dataset.handedOver") == "false"
