"""Hot swap (issue 6, acceptance 3): requests flow without pause while a new recommender
version is promoted; not one request fails, and the version in the answers changes exactly once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pytest

from models.recommendation import MODEL_NAME as RECOMMENDER

pytestmark = pytest.mark.slow


def _flow(url: str, body: dict, stop: threading.Event, out: list[tuple[int, str | None]]) -> None:
    """Post ``body`` back to back until ``stop``; record (status, model_version) of each answer."""
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            try:
                r = client.post("/recommend", json=body)
                version = r.json().get("model_version") if r.status_code == 200 else None
                out.append((r.status_code, version))
            except httpx.HTTPError as exc:  # a dropped connection is a failed request
                out.append((-1, repr(exc)))


def _changes(versions: list[str]) -> int:
    return sum(1 for a, b in zip(versions, versions[1:], strict=False) if a != b)


def test_promotion_swaps_without_a_failed_request(copy_home, ids) -> None:
    from models import registry
    from serving.launch import free_port, start_background

    settings = copy_home("hot-swap")
    old = registry.champions(settings)[RECOMMENDER]
    with start_background(
        settings, port=free_port(), timeout=300, extra_env={"MERCATO_MODEL_POLL_SECONDS": "0.3"}
    ) as server:
        stop = threading.Event()
        flows: list[list[tuple[int, str | None]]] = [[] for _ in range(4)]
        bodies = [
            {"customer_id": ids.history_customer, "k": 10},
            {"customer_id": ids.unknown_customer, "k": 5},
            {"customer_id": ids.recommender_customers[-1], "k": 3, "exclude_bought": False},
            {"customer_id": ids.history_customer, "k": 1},
        ]
        threads = [
            threading.Thread(target=_flow, args=(server.url, body, stop, out))
            for body, out in zip(bodies, flows, strict=True)
        ]
        for t in threads:
            t.start()
        try:
            while min(len(f) for f in flows) < 30:
                time.sleep(0.05)
            # A new version (the champion's artifact registered again) is promoted mid-flow.
            source = registry.client(settings).get_model_version_by_alias(RECOMMENDER, "champion")
            new = registry.register(settings, RECOMMENDER, source.source)
            registry.promote(settings, RECOMMENDER, new)
            promoted_at = [len(f) for f in flows]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not all(
                len(f) > n + 30 and f[-1][1] == new for f, n in zip(flows, promoted_at, strict=True)
            ):
                time.sleep(0.05)
        finally:
            stop.set()
            for t in threads:
                t.join(30)

        info = httpx.post(f"{server.url}/model_info", json={}, timeout=10).json()
    served = {m["name"]: m["version"] for m in info["models"]}
    assert served[RECOMMENDER] == new != old

    total = Counter(status for flow in flows for status, _ in flow)
    assert set(total) == {200}, f"failed requests during the swap: {total}"
    for flow in flows:
        versions = [v for _, v in flow]
        assert versions[0] == old and versions[-1] == new
        assert _changes(versions) == 1, f"version changed more than once: {Counter(versions)}"
    assert sum(total.values()) > 200
