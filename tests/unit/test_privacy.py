"""Privacy building blocks: pseudonyms, the suppression list, the file and SQLite erasers,
ingest's suppression filter, a model's lookups, and the admin endpoint's key."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mercato import privacy
from warehouse import redact


def test_pseudonyms_are_keyed_per_home_stable_and_hold_no_id(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    first = privacy.pseudonym(a, "17850")
    assert first == privacy.pseudonym(a, 17850.0) == privacy.pseudonym(a, " 17850 ")
    assert first.startswith("cust-") and "17850" not in first
    assert privacy.pseudonym(b, "17850") != first  # another home, another key
    assert privacy.pseudonym(a, "17851") != first
    assert privacy.pseudonym(a, None) is None
    key = a / "privacy" / "key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_scrub_pseudonymises_customer_fields_of_a_summary(tmp_path: Path) -> None:
    pseudo = privacy.Pseudonymizer(tmp_path)
    summary = {
        "ingest": {"batches": [{"rows": 3, "customer_id": "17850"}]},
        "example": {"CustomerID": 12346.0, "customer_ids": ["1", "2"], "stock_code": "17850"},
    }
    out = privacy.scrub(summary, pseudo)
    text = json.dumps(out)
    assert "12346" not in text and '"1"' not in text
    assert out["ingest"]["batches"][0]["customer_id"] == pseudo("17850")
    assert out["example"]["stock_code"] == "17850"  # not a customer field: kept


def test_suppression_list_holds_pseudonyms_only(tmp_path: Path) -> None:
    p = privacy.pseudonym(tmp_path, "17850")
    assert privacy.suppress(tmp_path, [p]) == 1
    assert privacy.suppress(tmp_path, [p]) == 0
    assert privacy.suppressed(tmp_path) == {p}
    assert "17850" not in privacy.suppression_path(tmp_path).read_text()


def test_customer_columns_by_name() -> None:
    for name in (
        "CustomerID",
        "customer_id",
        "Customer ID",
        "customer_id_text",
        "customer",
        "userId",
    ):
        assert privacy.is_customer_column(name), name
    for name in ("customer_key", "customers", "stock_code", "anonymous_id"):
        assert not privacy.is_customer_column(name), name


def test_token_pattern_matches_whole_ids_only() -> None:
    pattern = redact.token_pattern("12346")
    assert (
        pattern.search("id 12346, ok") and pattern.search("12346.0") and pattern.search("x:12346")
    )
    for text in ("123467", "a12346", "1.12346", "12346b"):
        assert not pattern.search(text), text


def test_files_lose_the_customers_lines_and_keep_the_others(tmp_path: Path) -> None:
    match = redact.matcher_for_id("17850")
    frame = pd.DataFrame({"CustomerID": [17850.0, 12346.0, None], "x": [1, 2, 3]})
    parquet, csv = tmp_path / "a.parquet", tmp_path / "a.csv"
    frame.to_parquet(parquet)
    frame.to_csv(csv, index=False)
    assert redact.rewrite_table_file(parquet, match) == 1
    assert pd.read_parquet(parquet)["x"].tolist() == [2, 3]
    assert redact.rewrite_table_file(csv, match) == 1
    assert pd.read_csv(csv)["x"].tolist() == [2, 3]
    assert redact.rewrite_table_file(csv, match) == 0  # repeat: nothing left

    lines = tmp_path / "log.jsonl"
    lines.write_text(
        '{"customer_id": "17850", "text": "hi"}\n{"customer_id": 12346, "text": "yo"}\nnot json\n'
    )
    assert redact.rewrite_table_file(lines, match) == 1
    assert lines.read_text() == '{"customer_id": 12346, "text": "yo"}\nnot json\n'

    example = tmp_path / "input_example.json"  # MLflow's split orientation
    example.write_text(json.dumps({"columns": ["customer_id"], "data": [["17850"], ["1"]]}))
    assert redact.rewrite_table_file(example, match) == 1
    assert json.loads(example.read_text())["data"] == [["1"]]

    report = tmp_path / "report.md"
    report.write_text("| 17850 | 178501 | 17850.0 |")
    assert redact.replace_tokens(report, redact.token_pattern("17850")) == 2
    assert report.read_text() == "| [erased] | 178501 | [erased] |"


def test_sqlite_rows_and_feast_entity_keys_are_deleted(tmp_path: Path) -> None:
    # Feast's real keys are erased in tests/integration/privacy (importing Feast takes seconds).
    def entity_keys(cid: str) -> list[bytes]:
        return [b"\x02\x00customer_id\x00" + cid.encode()]

    path = tmp_path / "online.db"
    con = sqlite3.connect(path)
    con.execute("create table mercato_customer (entity_key blob, feature_name text, value blob)")
    con.execute("create table tickets (customer_id text, topic text)")
    mine, theirs = entity_keys("17850")[0], entity_keys("12346")[0]
    con.executemany(
        "insert into mercato_customer values (?, ?, ?)",
        [(mine, "a", b"1"), (mine, "b", b"2"), (theirs, "a", b"3")],
    )
    con.executemany("insert into tickets values (?, ?)", [("17850", "x"), ("12346", "y")])
    con.commit()
    con.close()
    done = redact.erase_sqlite(path, "17850", entity_keys("17850"))
    assert sorted(done) == [("mercato_customer", 2, True), ("tickets", 1, False)]
    con = sqlite3.connect(path)
    assert con.execute("select count(*) from mercato_customer").fetchone()[0] == 1
    assert con.execute("select customer_id from tickets").fetchall() == [("12346",)]
    con.close()
    assert b"17850" not in path.read_bytes()  # vacuumed: no freed page keeps the old rows


def test_ingest_drops_lines_of_forgotten_customers(tmp_path: Path) -> None:
    from warehouse.landing import drop_suppressed

    settings = SimpleNamespace(home=tmp_path)
    rows = pd.DataFrame({"CustomerID": ["17850", "12346", None], "x": [1, 2, 3]})
    same, n = drop_suppressed(settings, rows)  # nobody forgotten yet
    assert n == 0 and same is rows
    privacy.suppress(tmp_path, [privacy.pseudonym(tmp_path, "17850")])
    kept, n = drop_suppressed(settings, rows)
    assert n == 1 and kept["x"].tolist() == [2, 3]


class _Lookups:
    def __init__(self) -> None:
        self.user_ids = np.array(["17850", "12346"], dtype=object)
        self._user_index = {"17850": 0, "12346": 1}
        self.items = np.array(["17850"], dtype=object)  # a stock code that looks like an id
        self._index = {"17850": 0}


def test_a_model_forgets_customers_but_not_items() -> None:
    from models.forgetting import FORGOTTEN, forget_in_model

    model = _Lookups()
    assert forget_in_model(model, lambda cid: cid == "17850") == 1
    assert model._user_index == {"12346": 1}
    assert model.user_ids.tolist() == [FORGOTTEN, "12346"]
    assert model._index == {"17850": 0}  # an item index (no customer_ids beside it): untouched


def test_the_admin_endpoint_needs_the_key() -> None:
    from tests_unit_asgi import call_guard

    from serving.apis.admin import Forbidden, ForgetRequest, admin_forget
    from serving.guard import Guard

    status, _, body = call_guard(Guard(_ok, api_key="k", max_body=100), "/admin_forget")
    assert status == 401 and "API key" in body["error"]
    assert call_guard(Guard(_ok, api_key="k", max_body=100), "/admin_forget", key=b"k")[0] == 200
    core = SimpleNamespace(settings=SimpleNamespace(api_key=""))
    with pytest.raises(Forbidden, match="MERCATO_API_KEY"):
        admin_forget(core, ForgetRequest(customer_id="17850"))  # type: ignore[arg-type]


async def _ok(scope, receive, send) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def test_mercato_forget_on_a_home_of_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipeline.cli import main

    home = tmp_path / "home"
    (home / "landing").mkdir(parents=True)
    (home / "landing" / "orders.csv").write_text("InvoiceNo,CustomerID\n1,17850.0\n2,12346\n")
    (home / "assistant").mkdir()
    (home / "assistant" / "chat.jsonl").write_text('{"customer_id": 17850, "text": "hi"}\n')
    monkeypatch.setenv("MERCATO_HOME", str(home))
    monkeypatch.delenv("MERCATO_API_KEY", raising=False)
    assert main(["forget", "17850"]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out)
    assert "17850" not in out and summary["lines_removed"] == 2
    assert summary["service"].startswith("not asked")
    assert (home / "landing" / "orders.csv").read_text() == "InvoiceNo,CustomerID\n2,12346\n"
    assert (home / "assistant" / "chat.jsonl").read_text() == ""
    log = [
        json.loads(line)
        for line in (home / "privacy" / "erasures.jsonl").read_text().split("\n")
        if line
    ]
    assert {e["where"] for e in log} == {"landing/orders.csv", "assistant/chat.jsonl"}
    assert all(set(e) == {"at", "kind", "where", "lines"} for e in log)
    assert main(["forget", "17850"]) == 0  # a repeat removes nothing
    assert json.loads(capsys.readouterr().out)["lines_removed"] == 0


def test_structured_files_lose_the_id_as_a_value_and_keep_timestamps(tmp_path: Path) -> None:
    # the fuzzer's id "00": as text it matched inside "+00:00" and broke the feature store's
    # freshness file, after which every online read answered 503
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"materialized_at": "2026-12-02T07:09:51.549741+00:00"}))
    match, pattern = redact.matcher_for_id("00"), redact.token_pattern("00")
    assert redact.erase_values(state, match, pattern) == 0
    assert json.loads(state.read_text()) == {"materialized_at": "2026-12-02T07:09:51.549741+00:00"}
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"examples": ["17850", "17851"], "note": "seen 17850 twice"}))
    match, pattern = redact.matcher_for_id("17850"), redact.token_pattern("17850")
    assert redact.erase_values(results, match, pattern) == 2
    assert json.loads(results.read_text()) == {
        "examples": [redact.ERASED, "17851"],
        "note": f"seen {redact.ERASED} twice",
    }
    table = tmp_path / "t.csv"
    table.write_text("when,who\n2026-12-02T00:00:00+00:00,17850\n2026-12-03,17851\n")
    assert redact.erase_values(table, match, pattern) == 1
    assert table.read_text() == (
        f"when,who\n2026-12-02T00:00:00+00:00,{redact.ERASED}\n2026-12-03,17851\n"
    )


def test_quarantine_reports_show_customer_ids_as_pseudonyms(tmp_path: Path) -> None:
    """report.md, report.json and gate messages show pseudonyms; rejected_rows.csv keeps the
    delivered ids for the person who fixes the rows."""
    import pandas as pd

    from expectations import CheckResult, GateResult
    from expectations.context import _pseudonymised
    from expectations.report import write_batch_report, write_rows_report
    from mercato.privacy import Pseudonymizer

    home = tmp_path / "home"
    pseudo = Pseudonymizer(home)
    check = _pseudonymised(
        CheckResult(
            "CustomerID is a whole number",
            "critical",
            False,
            "ids are integers",
            unexpected_count=1,
            examples=["17850.0"],
            example_rows=[{"CustomerID": 17850, "StockCode": "85123A"}],
            column="CustomerID",
        ),
        pseudo,
    )
    other = _pseudonymised(
        CheckResult("Quantity", "critical", False, "q", examples=[-17850], column="Quantity"),
        pseudo,
    )
    assert other.examples == [-17850]  # only customer columns are pseudonymised
    result = GateResult("raw batch b1", False, [check], rows=3)
    folder = write_batch_report(tmp_path / "q", "orders.csv", "b1", "orders", result).parent
    rows = pd.DataFrame({"data_row": [2], "reason": ["Quantity is 0"], "customer_id": ["17850"]})
    write_rows_report(tmp_path / "r", "x.csv", "b1", "support", rows, result, pseudo)
    shown = pseudo("17850")
    for text in (
        (folder / "report.md").read_text(),
        (folder / "report.json").read_text(),
        (tmp_path / "r" / "report.md").read_text(),
        (tmp_path / "r" / "report.json").read_text(),
        result.failure_message(),
    ):
        assert "17850" not in text and shown in text
    assert "17850" in (tmp_path / "r" / "rejected_rows.csv").read_text()
