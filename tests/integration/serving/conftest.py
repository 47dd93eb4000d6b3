"""Fixtures of the serving tests: a private copy of a pipeline-built data folder, a running
``bentoml serve`` on it, an in-process reference of the same champions, and sample ids.

The pipeline runs once per session (the shared ``pipeline_home`` fixture: real models trained by
the models package on generated data, real Feast online store). Serving tests change their data
folder (promotions, a missing online store), so they work on a copy of it.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from mercato.settings import Settings

API_KEY = "serving-tests-key"


@pytest.fixture(scope="session")
def api_key() -> str:
    """The key the test server requires."""
    return API_KEY


@pytest.fixture(scope="session")
def serving_home(pipeline_home: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the pipeline's data folder that serving tests may change.

    Every registered model is a champion in it before any server starts: the gate refuses the
    customer-value families on the small generated batch (docs/customer_value.md), and which
    endpoints answer must not depend on which test module happened to promote them first.
    """
    from models import registry
    from models.family import families

    dest = tmp_path_factory.mktemp("serving") / "home"
    shutil.copytree(pipeline_home.home, dest, ignore=shutil.ignore_patterns("bentoml", "serving"))
    settings = dataclasses.replace(pipeline_home, home=dest)
    c = registry.client(settings)
    for name in (f.registered_model for f in families(settings)):
        versions = c.search_model_versions(f"name='{name}'")
        if versions and registry.champion_version(settings, name) is None:
            latest = max(int(v.version) for v in versions)
            registry.promote(settings, name, latest, reason="test: served by hand")
    return settings


@pytest.fixture(scope="session")
def session_env(serving_home: Settings) -> Iterator[None]:
    """Point ``get_settings()`` in this process at the serving copy (what the service reads)."""

    with pytest.MonkeyPatch.context() as mp:
        for key, value in serving_home.to_env().items():
            mp.setenv(key, value)
        mp.setenv("MERCATO_MODEL_POLL_SECONDS", "0")  # in-process instances never poll
        yield


@pytest.fixture(scope="session")
def core(serving_home: Settings, session_env: None):
    """The same champions the server loads, in this process: the reference for expected answers."""
    from serving.core import MercatoCore

    value = MercatoCore(serving_home, poll_seconds=0)
    value.start()
    yield value
    value.stop()


@dataclass(frozen=True)
class Ids:
    """Ids that exercise every branch: known to each model, and known to nobody."""

    history_customer: str  # in the recommender's history and in the online store
    online_customers: list[str]  # have online features
    recommender_customers: list[str]  # have a purchase history in the recommender
    product: str
    products: list[str]
    unknown_customer: str = "999999999"
    unknown_product: str = "NO-SUCH-PRODUCT"


@pytest.fixture(scope="session")
def ids(core) -> Ids:
    from models.recommendation import MODEL_NAME as RECOMMENDER

    rec = core.tracker.current.get(RECOMMENDER).model
    users = [str(u) for u in rec.user_ids[:200]]
    x, known = core.features.rows(users)
    online = [u for u, k in zip(users, known, strict=True) if k]
    assert online, "no recommender customer has online features: the fixture data is wrong"
    return Ids(
        history_customer=online[0],
        online_customers=online[:20],
        recommender_customers=users[:20],
        product=str(rec.item_ids[0]),
        products=[str(i) for i in rec.item_ids[:10]],
    )


@pytest.fixture(scope="session")
def server(serving_home: Settings):
    """``bentoml serve`` on a free loopback port, with an API key, following the alias every 1 s."""
    from serving.launch import free_port, start_background

    settings = dataclasses.replace(serving_home, api_key=API_KEY)
    proc = start_background(
        settings,
        port=free_port(),
        timeout=300,
        extra_env={"MERCATO_MODEL_POLL_SECONDS": "1"},
    )
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def copy_home(serving_home: Settings, tmp_path_factory: pytest.TempPathFactory):
    """Make a further private copy of the serving folder (for tests that promote or break)."""

    def make(name: str) -> Settings:
        dest = tmp_path_factory.mktemp(name) / "home"
        shutil.copytree(
            serving_home.home, dest, ignore=shutil.ignore_patterns("bentoml", "serving")
        )
        return dataclasses.replace(serving_home, home=dest)

    return make


@pytest.fixture
def client(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"X-API-Key": API_KEY}, timeout=30) as value:
        yield value
