"""The start-up steps of ``serving.hotpath`` on a real (small) BentoML service and a real heap."""

from __future__ import annotations

import gc
import weakref

import bentoml
import pytest
from starlette.testclient import TestClient

from serving.hotpath import bind_api_methods, freeze_heap, refreeze_heap


@bentoml.service(name="hotpath-toy")
class Toy:
    """Two APIs, one with a default that BentoML's per-request caller fills in."""

    def __init__(self) -> None:
        self.calls = 0
        bind_api_methods(self, Toy.apis)

    @bentoml.api
    async def double(self, x: int) -> int:
        self.calls += 1
        return 2 * x

    @bentoml.api
    def add(self, a: int, b: int = 10) -> int:
        self.calls += 1
        return a + b


def test_apis_are_bound_once_and_behave_as_before() -> None:
    instance = Toy.inner()
    # Without the binding every attribute access builds a new caller.
    assert instance.double is instance.double
    assert instance.add.local is instance.add.local
    unbound = Toy.inner.__dict__["add"].__get__(instance, Toy.inner)
    assert unbound is not Toy.inner.__dict__["add"].__get__(instance, Toy.inner)
    assert instance.add.local(a=1) == unbound.local(a=1) == 11


def test_a_bound_service_answers_over_its_asgi_app() -> None:
    with TestClient(Toy.to_asgi(is_main=True)) as client:
        assert client.post("/double", json={"x": 21}).json() == 42
        assert client.post("/add", json={"a": 1}).json() == 11
        assert client.post("/add", json={"a": 1, "b": 2}).json() == 3
        bad = client.post("/add", json={"a": "one"})
        assert bad.status_code == 400


class _Cyclic:
    """Garbage only the cycle collector can free."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def thawed():
    yield
    gc.unfreeze()


def test_frozen_cycles_wait_for_the_refreeze_after_a_swap(thawed) -> None:
    old_model = _Cyclic()
    alive = weakref.ref(old_model)
    freeze_heap()
    assert gc.get_freeze_count() > 0
    del old_model  # the "replaced model": unreachable, but frozen
    gc.collect()
    assert alive() is not None, "a frozen cycle is out of the collector's sight"
    refreeze_heap()
    assert alive() is None, "the refreeze after a swap frees it"
    assert gc.get_freeze_count() > 0
