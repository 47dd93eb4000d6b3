"""Acceptance 4 of issue 20: a forgotten customer is gone from the whole data home, the service
answers for them as for a stranger, and neither the next run nor a redelivery brings them back.

Works on a private copy of the session's pipeline home (real champions, Feast online store,
archived batches), with a conversation log and a prediction log added the way the assistant and
the monitor will store theirs (a DuckDB table, a JSON-lines file, a Parquet file: the assistant
is not on this branch, so the log is made here). The search is ``privacy_scan.py``, written
apart from the eraser: every DuckDB table and view, every SQLite file, every Parquet file, and
the bytes of every other file.

The service here is the BentoML service class called in process (as in
``tests/integration/serving/test_serving_unit.py``), on this test's own copy of the home: a
second HTTP server would cost a minute. The same endpoint over HTTP, behind the API key, on the
session's running server is ``tests/integration/serving/test_forget_http.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from typing import Any

import duckdb
import pandas as pd
import pytest
from privacy_scan import scan_home

from mercato.privacy import is_customer_column
from mercato.settings import Settings

pytestmark = pytest.mark.slow

API_KEY = "privacy-tests-key"
STRANGER = "999999999"
#: Places the customer must be found in before the erasure (proves the search finds them).
MUST_HOLD = (
    "duckdb:raw.order_lines",
    "duckdb:main.customer_features",
    "online_store",
    "archive",
    "conversation",
)


def _rows_checksum(con: Any, table: str, customer_id: str | None, columns: list[str]) -> tuple:
    """(row count, md5 of every row as text, sorted) of a table, without the customer's rows."""
    where = ""
    if customer_id is not None and columns:
        where = (
            "where not ("
            + " or ".join(
                f"coalesce(regexp_replace(trim(CAST(\"{c}\" AS VARCHAR)), '\\.0+$', ''), '') = "
                f"'{customer_id}'"
                for c in columns
            )
            + ")"
        )
    return con.execute(
        f"select count(*), md5(coalesce(string_agg(CAST(t AS VARCHAR), '|' "
        f"order by CAST(t AS VARCHAR)), '')) from {table} t {where}"
    ).fetchone()


def warehouse_state(settings: Settings, customer_id: str) -> dict[str, tuple]:
    """Per base table: (all rows, (rows and checksum without the customer's rows))."""
    out = {}
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, table in tables:
            name = f'"{schema}"."{table}"'
            cols = [
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = ? and table_name = ?",
                    [schema, table],
                ).fetchall()
                if is_customer_column(r[0])
            ]
            total = con.execute(f"select count(*) from {name}").fetchone()[0]
            out[f"{schema}.{table}"] = (total, _rows_checksum(con, name, customer_id, cols))
    return out


def call(service: Any, name: str, request: Any) -> tuple[int, Any]:
    """An API method of the service instance: (status, JSON body)."""
    out = getattr(service, name)(request)
    if asyncio.iscoroutine(out):
        out = asyncio.run(out)
    return out.status_code, json.loads(out.body)


def answers(service: Any, customer_id: str, campaign: str | None) -> dict[str, Any]:
    """Every per-customer answer for ``customer_id``, with the id itself left out."""
    from serving import schemas as s
    from serving.apis.churn import ChurnRiskRequest
    from serving.apis.customer_value import CustomerValueRequest
    from serving.apis.uplift import UpliftRequest

    requests = {
        "recommend": s.RecommendRequest(customer_id=customer_id, k=5),
        "segment": s.SegmentRequest(customer_id=customer_id),
        "propensity": s.PropensityRequest(customer_id=customer_id),
        "churn_risk": ChurnRiskRequest(customer_id=customer_id),
        "customer_value": CustomerValueRequest(customer_id=customer_id),
    }
    if campaign:
        requests["uplift"] = UpliftRequest(customer_id=customer_id, campaign=campaign)
    out = {}
    for name, request in requests.items():
        status, body = call(service, name, request)
        body.pop("customer_id", None)
        out[name] = (status, body)
    return out


@pytest.fixture(scope="module")
def home(pipeline_home: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A private copy of the session's pipeline home, with the API key set."""
    dest = tmp_path_factory.mktemp("forget") / "home"
    shutil.copytree(pipeline_home.home, dest, ignore=shutil.ignore_patterns("bentoml", "serving"))
    return dataclasses.replace(pipeline_home, home=dest, api_key=API_KEY)


@pytest.fixture(scope="module")
def service(home: Settings):
    """The BentoML service class on the copy, in process (model polling off)."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in home.to_env().items():
            mp.setenv(key, value)
        mp.setenv("MERCATO_MODEL_POLL_SECONDS", "0")
        from serving.service import Mercato

        instance = Mercato()
        yield instance
        instance.core.stop()


def pick_customer(service: Any) -> str:
    """A customer the recommender knows, with online features, reviews and a campaign."""
    from models.recommendation import MODEL_NAME

    rec = service.core.tracker.current.get(MODEL_NAME).model
    users = [str(u) for u in rec.user_ids[:300]]
    _, known = service.core.features.rows(users)
    with_features = [u for u, k in zip(users, known, strict=True) if k]
    assert with_features, "no recommender customer has online features"
    return with_features[0]


def add_logs(home: Settings, customer_id: str, other: str) -> None:
    """A conversation log and tickets as the assistant stores them, a prediction log as the
    monitor does: the customer's lines beside another customer's."""
    with duckdb.connect(str(home.warehouse_path)) as con:
        con.execute("create schema if not exists assistant")
        con.execute(
            "create table assistant.conversations (conversation_id varchar, customer_id varchar, "
            "role varchar, message varchar, sent_at timestamp)"
        )
        con.execute(
            "insert into assistant.conversations values "
            f"('c1', '{customer_id}', 'user', 'where is my order?', '2026-11-20 10:00:00'), "
            "('c1', NULL, 'assistant', 'It ships tomorrow.', '2026-11-20 10:00:05'), "
            f"('c2', '{other}', 'user', 'refund please', '2026-11-21 09:00:00')"
        )
    folder = home.home / "assistant"
    folder.mkdir()
    with (folder / "conversations.jsonl").open("w") as out:
        for cid, text in ((customer_id, "hello"), (other, "hi"), (customer_id, "thanks")):
            out.write(json.dumps({"customer_id": cid, "role": "user", "text": text}) + "\n")
    pd.DataFrame(
        {"ticket_id": ["t1", "t2"], "customer_id": [customer_id, other], "topic": ["a", "b"]}
    ).to_csv(folder / "tickets.csv", index=False)
    (home.home / "monitoring").mkdir(exist_ok=True)
    pd.DataFrame(
        {"customer_id": [customer_id, other, customer_id], "score": [0.1, 0.2, 0.3]}
    ).to_parquet(home.home / "monitoring" / "predictions-test.parquet")


def test_forgotten_customer_is_gone_everywhere(home: Settings, service: Any) -> None:
    from pipeline import stages
    from serving.apis.admin import ForgetRequest

    customer = pick_customer(service)
    from models.recommendation import MODEL_NAME

    rec = service.core.tracker.current.get(MODEL_NAME).model
    other = next(str(u) for u in rec.user_ids if str(u) != customer)
    add_logs(home, customer, other)
    campaign = None
    uplift = service.core.tracker.current.get("mercato_uplift")
    if uplift is not None:
        campaign = uplift.model.campaigns[0]

    # -- before: the search finds the customer in every kind of place -------------------------
    before = scan_home(home.home, customer, home.warehouse_path)
    for place in MUST_HOLD:
        assert any(place in key for key in before), f"{place} not found before: {sorted(before)}"
    stranger = answers(service, STRANGER, campaign)
    assert answers(service, customer, campaign) != stranger  # the service knows them
    state = warehouse_state(home, customer)
    archived = {
        p: pd.read_parquet(p) if p.suffix == ".parquet" else None
        for p in home.archive_dir.rglob("*")
        if p.is_file()
    }
    original_orders = next(p for p in archived if "orders" in p.name)
    redelivery = home.home.parent / "redelivered" / original_orders.name
    redelivery.parent.mkdir()
    shutil.copy(original_orders, redelivery)

    # -- the erasure, through the admin endpoint of the running service -------------------------
    status, body = call(service, "admin_forget", ForgetRequest(customer_id=customer))
    assert status == 200, body
    assert body["lines_removed"] > 0 and body["lookups_dropped"] > 0
    assert customer not in json.dumps(body)

    # -- after: nothing anywhere, except model binaries reported as retained -----------------
    after = scan_home(home.home, customer, home.warehouse_path)
    retained = set(body["retained_until_retrain"])
    assert all(r.startswith("mlflow/") for r in retained)
    leftover = {k: v for k, v in after.items() if k.removeprefix("bytes:") not in retained}
    assert leftover == {}
    log = (home.home / "privacy" / "erasures.jsonl").read_text()
    assert customer not in log and '"lines"' in log and '"batch"' in log

    # -- the service answers as for a stranger, at once ----------------------------------------
    assert answers(service, customer, campaign) == stranger

    # -- everything else in the warehouse is unchanged ---------------------------------------
    now = warehouse_state(home, None)
    assert set(now) == set(state)
    assert sum(total - kept for total, (kept, _) in state.values()) > 0
    for table, (_total, (kept, checksum)) in state.items():
        assert now[table][0] == kept, table  # the customer's rows went, no others
        assert now[table][1] == (kept, checksum), table  # and the others are byte for byte
    for path, frame in archived.items():
        if frame is None:
            continue
        rest = frame[
            ~frame.apply(lambda r: any(str(v).removesuffix(".0") == customer for v in r), axis=1)
        ]
        pd.testing.assert_frame_equal(
            pd.read_parquet(path).reset_index(drop=True), rest.reset_index(drop=True)
        )

    # -- a redelivery: the same file (a duplicate) and a re-export of it (a new batch) ---------
    same = stages.ingest(home, redelivery)["batches"][0]
    assert same["status"] == "duplicate"
    frame = pd.read_parquet(redelivery)
    reexport = redelivery.with_name("orders-again.csv")
    frame.to_csv(reexport, index=False)
    again = stages.ingest(home, reexport)["batches"][0]
    assert again["status"] == "loaded" and again["suppressed_rows"] > 0
    assert any("forgotten" in w for w in again["warnings"])

    # -- the next run keeps the customer out ---------------------------------------------------
    stages.transform(home)
    stages.validate(home)
    stages.features(home)
    final = scan_home(home.home, customer, home.warehouse_path)
    leftover = {k: v for k, v in final.items() if k.removeprefix("bytes:") not in retained}
    assert leftover == {}
    assert answers(service, customer, campaign) == stranger
