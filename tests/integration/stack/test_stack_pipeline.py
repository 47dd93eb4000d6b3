"""The whole pipeline with the production configuration, then BentoML serving from it.

MLflow over HTTP on PostgreSQL, Feast's online store on Redis, the API key on. The pipeline runs
in a child process with the environment a container would have (`devtools.stack` gives it), and
`mercato serve` answers from the champions it resolved at start-up, also after MLflow goes away.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fixed_dates import END_DATE

from devtools.stack import LocalStack, MlflowServer
from serving.launch import start_process
from serving.processes import free_port, group_alive

pytestmark = pytest.mark.slow
API_KEY = "stack-test-key-0123456789"
MODELS = ("mercato_segmentation", "mercato_recommender", "mercato_propensity")

RUN_PIPELINE = """
import sys
from datetime import date
from pathlib import Path
from pipeline.stages import run_all
from mercato.settings import apply_runtime_env, get_settings
from warehouse.synthetic import write_orders

END_DATE = date.fromisoformat(sys.argv[2])
settings = get_settings()
apply_runtime_env(settings)
data = write_orders(
    Path(sys.argv[1]), n_customers=300, n_products=120, days=240, seed=7, end_date=END_DATE
)
run_all(settings, data)
"""


@pytest.fixture(scope="module")
def production(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Pipeline run + `mercato serve`, both on a dedicated MLflow server this module may stop."""
    base = tmp_path_factory.mktemp("production")
    mlflow = MlflowServer(base / "mlflow", stack.mlflow_db_url()).start()
    env = {
        **os.environ,
        **stack.env(),
        "MERCATO_HOME": str(base / "home"),
        "MERCATO_MLFLOW_TRACKING_URI": mlflow.url,
        "MERCATO_API_KEY": API_KEY,
    }
    serve = None
    try:
        run = subprocess.run(
            [sys.executable, "-c", RUN_PIPELINE, str(base / "orders.csv"), END_DATE.isoformat()],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
        port = free_port()
        args = [sys.executable, "-m", "pipeline.cli", "serve", "--host", "127.0.0.1"]
        serve = start_process(
            [*args, "--port", str(port)],
            env,
            "127.0.0.1",
            port,
            base / "serve.log",
            timeout=240,
            name="mercato serve",
        )
        yield {
            "url": serve.url,
            "mlflow": mlflow,
            "orders": base / "orders.csv",
            "log": serve.log_path,
        }
    finally:
        if serve is not None:
            serve.stop(60)
        mlflow.stop()
    assert serve is None or not group_alive(serve.pid), "bentoml left a process behind"


def known_customer(orders: Path) -> str:
    import pandas as pd

    ids = pd.read_csv(orders, usecols=["CustomerID"])["CustomerID"].dropna()
    return str(int(ids.value_counts().index[0]))


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}


def test_models_are_registered_on_the_server_with_champions(
    stack: LocalStack, production: dict
) -> None:
    base = production["mlflow"].url + "/api/2.0/mlflow/registered-models/alias"
    for name in MODELS:
        response = httpx.get(base, params={"name": name, "alias": "champion"}, timeout=30)
        assert response.status_code == 200, (name, response.text)


def test_online_features_live_in_redis(stack: LocalStack, production: dict) -> None:
    """Feast's Redis store keeps one hash per entity, keyed by the serialized entity key followed
    by the project name, with a ``_ts:<feature view>`` field per view written."""
    import redis
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    from features.config import PROJECT

    customer = EntityKey(
        join_keys=["customer_id"],
        entity_values=[Value(string_val=known_customer(production["orders"]))],
    )
    key = serialize_entity_key(customer, entity_key_serialization_version=3) + PROJECT.encode()
    client = redis.Redis.from_url(stack.redis.url)
    try:
        feast_keys = list(client.scan_iter(match=b"*" + PROJECT.encode(), count=1000))
        assert len(feast_keys) > 1, feast_keys  # customers and products, not a stray key
        assert b"_ts:customer_rfm_stats" in client.hkeys(key)
    finally:
        client.close()


def test_api_key_is_required(production: dict) -> None:
    body = {"customer_id": known_customer(production["orders"]), "k": 5}
    url = production["url"] + "/recommend"
    assert httpx.post(url, json=body, timeout=30).status_code == 401
    wrong = {"Authorization": "Bearer not-the-key"}
    assert httpx.post(url, json=body, headers=wrong, timeout=30).status_code == 401


def test_serves_answers_from_the_pipeline(production: dict) -> None:
    customer = known_customer(production["orders"])
    url = production["url"]
    recs = httpx.post(
        f"{url}/recommend", json={"customer_id": customer, "k": 5}, headers=auth(), timeout=30
    )
    assert recs.status_code == 200, recs.text
    assert 0 < len(recs.json()["items"]) <= 5
    segment = httpx.post(
        f"{url}/segment", json={"customer_id": customer}, headers=auth(), timeout=30
    )
    assert segment.status_code == 200, segment.text
    assert segment.json()["known_customer"] is True
    propensity = httpx.post(
        f"{url}/propensity", json={"customer_id": customer}, headers=auth(), timeout=30
    )
    assert propensity.status_code == 200, propensity.text


def test_keeps_answering_when_mlflow_is_down(production: dict) -> None:
    """MLflow stops, the service keeps answering; MLflow then comes back on the same port, so
    the module's other tests see it whatever order they run in."""
    mlflow: MlflowServer = production["mlflow"]
    mlflow.stop()
    try:
        customer = known_customer(production["orders"])
        for _ in range(3):
            response = httpx.post(
                production["url"] + "/recommend",
                json={"customer_id": customer, "k": 3},
                headers=auth(),
                timeout=30,
            )
            assert response.status_code == 200, response.text
            assert response.json()["items"]
    finally:
        mlflow.start()
