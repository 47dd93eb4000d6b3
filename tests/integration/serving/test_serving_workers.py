"""Several workers, one champion (issue 19): the service started with two worker processes
follows a move of the ``champion`` alias in every one of them.

Each request goes over a new connection, so the kernel hands it to whichever worker accepts
first; ``/model_info`` names the worker that answered (``worker_pid``) and the version it serves.
"""

from __future__ import annotations

import time
from collections import Counter

import httpx
import psutil
import pytest

from models.recommendation import MODEL_NAME as RECOMMENDER

pytestmark = pytest.mark.slow

WORKERS = 2


def _post(url: str, path: str, body: dict) -> httpx.Response:
    """One request on a connection of its own (no keep-alive pins it to one worker)."""
    return httpx.post(f"{url}{path}", json=body, headers={"Connection": "close"}, timeout=30)


def _served_by(url: str) -> tuple[int, str]:
    """(pid of the worker that answered, the recommender version it serves)."""
    response = _post(url, "/model_info", {})
    assert response.status_code == 200, response.text
    body = response.json()
    return body["worker_pid"], _recommender(body)


def _recommender(model_info: dict) -> str:
    """The recommender version in a ``/model_info`` answer."""
    return {m["name"]: m["version"] for m in model_info["models"]}[RECOMMENDER]


def test_every_worker_follows_the_champion(copy_home, ids) -> None:
    from models import registry
    from serving.launch import answering_workers, free_port, start_background

    settings = copy_home("workers")
    old = registry.champions(settings)[RECOMMENDER]
    with start_background(
        settings,
        port=free_port(),
        timeout=300,
        extra_env={"MERCATO_SERVE_WORKERS": str(WORKERS), "MERCATO_MODEL_POLL_SECONDS": "0.5"},
    ) as server:
        # /readyz answers as soon as one worker is up: wait until every worker has answered.
        first = answering_workers(server.url, WORKERS, timeout=180)
        seen = {pid: _recommender(body) for pid, body in first.items()}
        children = {p.pid for p in psutil.Process(server.pid).children(recursive=True)}
        assert set(seen) <= children, f"answers from {set(seen)}, not the server's {children}"
        assert set(seen.values()) == {old}

        # A new version (the champion's artifact registered again) gets the alias.
        source = registry.client(settings).get_model_version_by_alias(RECOMMENDER, "champion")
        new = registry.register(settings, RECOMMENDER, source.source)
        registry.promote(settings, RECOMMENDER, new)
        assert new != old

        # Every worker swaps by itself (each runs its own poll); none goes back afterwards.
        deadline = time.monotonic() + 60
        while any(v != new for v in seen.values()) and time.monotonic() < deadline:
            pid, version = _served_by(server.url)
            seen[pid] = version
        stale = {pid: v for pid, v in seen.items() if v != new}
        assert not stale, f"workers still serving the old champion v{old} 60 s after: {stale}"

        # Many requests afterwards: every one of them, from every worker, answers with it.
        answers = [_served_by(server.url) for _ in range(60)]
        assert set(pid for pid, _ in answers) == set(seen), Counter(p for p, _ in answers)
        assert {v for _, v in answers} == {new}
        recommended = [
            _post(server.url, "/recommend", {"customer_id": ids.history_customer, "k": 5})
            for _ in range(60)
        ]
        assert {r.status_code for r in recommended} == {200}
        assert {r.json()["model_version"] for r in recommended} == {new}
