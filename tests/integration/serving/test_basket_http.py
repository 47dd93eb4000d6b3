"""``/frequently_bought_together`` and its batch form over HTTP, against the served rules.

Expected answers come from the champion's own contract method, loaded in this process.
"""

from __future__ import annotations

import math

import pytest

from models.basket import MODEL_NAME

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def rules_model(core):
    loaded = core.tracker.current.get(MODEL_NAME)
    assert loaded is not None, "the pipeline did not promote a basket model"
    return loaded


def expected(model, codes: list[str], k: int) -> list[dict]:
    return [
        {
            "antecedents": [
                {"stock_code": c, "description": model.describe(c)} for c in r.antecedents
            ],
            "consequents": [
                {"stock_code": c, "description": model.describe(c)} for c in r.consequents
            ],
            "lift": r.lift,
            "confidence": r.confidence,
            "support": r.support,
            "conviction": r.conviction if math.isfinite(r.conviction) else None,
            "n_baskets": r.n_baskets,
        }
        for r in model.frequently_bought_together(codes, k=k)
    ]


def test_rules_for_one_product_name_every_item(client, rules_model) -> None:
    model = rules_model.model
    code = model.example_product()
    response = client.post("/frequently_bought_together", json={"stock_codes": [code], "k": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == rules_model.version
    assert body["rules"] == expected(model, [code], 5)
    assert 0 < len(body["rules"]) <= 5
    for rule in body["rules"]:
        assert [p["stock_code"] for p in rule["antecedents"]] == [code]
        assert all(p["description"] for p in rule["antecedents"] + rule["consequents"])
        assert code not in {p["stock_code"] for p in rule["consequents"]}
    lifts = [r["lift"] for r in body["rules"]]
    assert lifts == sorted(lifts, reverse=True)


def test_rules_for_a_basket_use_every_product_in_it(client, rules_model) -> None:
    model = rules_model.model
    two = next(a for a in model.rules["antecedents"] if len(a) == 2)
    response = client.post("/frequently_bought_together", json={"stock_codes": list(two)})
    assert response.status_code == 200, response.text
    got = response.json()["rules"]
    assert got == expected(model, list(two), 10)
    assert any(len(r["antecedents"]) == 2 for r in got)


def test_unknown_product_is_404_naming_the_code(client, rules_model) -> None:
    known = rules_model.model.example_product()
    response = client.post(
        "/frequently_bought_together", json={"stock_codes": [known, "NO-SUCH-PRODUCT"]}
    )
    assert response.status_code == 404
    body = response.json()
    assert "NO-SUCH-PRODUCT" in body["error"] and known not in body["error"]
    assert body["field"] == "stock_codes"


def test_empty_basket_is_400(client) -> None:
    for path, body in (
        ("/frequently_bought_together", {"stock_codes": []}),
        ("/frequently_bought_together_batch", {"baskets": [["85123A"], []]}),
    ):
        response = client.post(path, json=body)
        assert response.status_code == 400, (path, response.text)
        assert "basket is empty" in response.json()["error"]
        assert response.json()["field"].startswith(next(iter(body)))


def test_batch_answers_each_basket_and_flags_unknown_ones(client, rules_model) -> None:
    model = rules_model.model
    code = model.example_product()
    baskets = [[code], ["NO-SUCH-PRODUCT", code], [str(model.items[-1])]]
    response = client.post("/frequently_bought_together_batch", json={"baskets": baskets, "k": 3})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["stock_codes"] for r in results] == baskets
    assert [r["found"] for r in results] == [True, False, True]
    assert results[1]["unknown_products"] == ["NO-SUCH-PRODUCT"] and results[1]["rules"] == []
    assert results[0]["rules"] == expected(model, [code], 3)
    assert results[2]["rules"] == expected(model, baskets[2], 3)


def test_model_info_reports_the_rules(client, rules_model) -> None:
    models = {m["name"]: m for m in client.post("/model_info", json={}).json()["models"]}
    details = models[MODEL_NAME]["details"]
    assert details["n_rules"] == len(rules_model.model.rules) > 0
    assert details["min_support"] == rules_model.model.params["min_support"]
