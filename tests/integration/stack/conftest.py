"""A real PostgreSQL + Redis + MLflow server stack on 127.0.0.1, shared by this folder's tests.

Started once per session (~10 s) and stopped at the end, where the fixture also proves that no
process it started is left. Needs `postgresql` and `redis-server` (Debian packages, installed by
.ci/run) and `psycopg2` in the environment.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from needs_servers import require_servers
from tests_stack_helpers import assert_stopped, stack_pids

from devtools.stack import LocalStack, start_stack


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    require_servers()
    running = start_stack()
    pids = stack_pids(running)
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(running.base_dir, ignore_errors=True)
    assert_stopped(running, pids)
