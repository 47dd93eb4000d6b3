"""Where the server tests find Redis and PostgreSQL, and what they do when neither is there."""

from __future__ import annotations

import os

import pytest

#: Set by .ci/run: a missing Redis or PostgreSQL fails the run instead of skipping its tests.
REQUIRE_SERVERS_ENV = "MERCATO_REQUIRE_SERVERS"


def put_servers_on_path() -> None:
    """Redis and PostgreSQL binaries found outside PATH (Debian's folders, PyPI packages) go
    first on PATH, so the tests and the scripts they run find the same servers."""
    from devtools.servers import path_entries

    entries = path_entries()
    if entries:
        os.environ["PATH"] = os.pathsep.join([*entries, os.environ.get("PATH", "")])


def require_servers() -> None:
    """Skip a test that needs Redis and PostgreSQL where they are missing, with the one line
    that says what to install (``make test`` installs them as root); fail instead under CI."""
    from devtools.servers import missing_message

    message = missing_message()
    if message is None:
        return
    if os.environ.get(REQUIRE_SERVERS_ENV) == "1":
        pytest.fail(f"{message} ({REQUIRE_SERVERS_ENV}=1: CI must not skip them)")
    pytest.skip(message)
