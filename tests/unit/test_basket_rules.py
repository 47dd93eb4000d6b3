"""The association-rule miner (``models.basket``) and its served model, on small baskets.

The reference is an independent brute-force Apriori written here from the definitions (every
subset of every basket counted, every split of every frequent itemset tried), so the miner is
checked against arithmetic, not against itself; mlxtend's own pipeline is a second reference.
"""

from __future__ import annotations

import math
import pickle
from collections import Counter
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from basket_data import TEXTBOOK

from models import basket


def brute_force_rules(
    baskets: list[list[str]], min_support: float, min_confidence: float, max_len: int | None
) -> dict[tuple[tuple[str, ...], tuple[str, ...]], dict[str, float]]:
    """Apriori by enumeration: {(antecedents, consequents): measures} straight from counts."""
    n = len(baskets)
    counts: Counter[frozenset[str]] = Counter()
    for b in baskets:
        items = sorted(set(b))
        top = len(items) if max_len is None else min(max_len, len(items))
        for size in range(1, top + 1):
            counts.update(frozenset(c) for c in combinations(items, size))
    frequent = {s: c for s, c in counts.items() if c / n >= min_support}
    out = {}
    for itemset, c_ac in frequent.items():
        for size in range(1, len(itemset)):
            for a in combinations(sorted(itemset), size):
                a_set = frozenset(a)
                c_set = itemset - a_set
                confidence = c_ac / frequent[a_set]
                if confidence < min_confidence:
                    continue
                s_c = frequent[c_set] / n
                out[(tuple(sorted(a_set)), tuple(sorted(c_set)))] = {
                    "support": c_ac / n,
                    "confidence": confidence,
                    "lift": confidence / s_c,
                    "conviction": math.inf if confidence == 1 else (1 - s_c) / (1 - confidence),
                    "n_baskets": c_ac,
                }
    return out


def as_dict(rules: pd.DataFrame) -> dict[tuple[tuple[str, ...], tuple[str, ...]], dict]:
    cols = ["support", "confidence", "lift", "conviction", "n_baskets"]
    return {
        (row.antecedents, row.consequents): {c: getattr(row, c) for c in cols}
        for row in rules.itertuples(index=False)
    }


def random_baskets(seed: int, n: int = 300, n_items: int = 14) -> list[list[str]]:
    """Baskets with structure: items drawn around a per-basket theme, so rules exist."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        theme = rng.integers(0, 3)
        size = int(rng.integers(1, 7))
        pool = (np.arange(n_items) + theme * 4) % n_items
        weights = np.linspace(3.0, 0.2, n_items)
        picks = rng.choice(pool, size=size, replace=False, p=weights / weights.sum())
        out.append([f"P{int(i):02d}" for i in picks])
    return out


@pytest.mark.parametrize(
    ("seed", "min_support", "min_confidence", "max_len"),
    [(0, 0.05, 0.3, None), (1, 0.02, 0.1, 3), (2, 0.1, 0.0, 2), (3, 0.03, 0.5, None)],
)
def test_rules_equal_brute_force_apriori(seed, min_support, min_confidence, max_len) -> None:
    baskets = random_baskets(seed)
    rules = basket.mine_rules(
        basket.transactions_from_lists(baskets), min_support, min_confidence, max_len
    )
    expected = brute_force_rules(baskets, min_support, min_confidence, max_len)
    got = as_dict(rules)
    assert expected, "the reference found no rule: the case tests nothing"
    assert set(got) == set(expected)
    for key, measures in expected.items():
        for name, value in measures.items():
            assert got[key][name] == pytest.approx(value, rel=1e-12), (key, name)


def test_rules_are_sorted_by_lift_then_confidence() -> None:
    rules = basket.mine_rules(basket.transactions_from_lists(random_baskets(4)), 0.03, 0.1, None)
    keys = list(zip(-rules["lift"], -rules["confidence"], strict=True))
    assert keys == sorted(keys)


def test_textbook_example_matches_mlxtend() -> None:
    """mlxtend's fpgrowth + association_rules give the same rules and measures."""
    from mlxtend.frequent_patterns import association_rules, fpgrowth
    from mlxtend.preprocessing import TransactionEncoder

    encoder = TransactionEncoder()
    onehot = pd.DataFrame(encoder.fit(TEXTBOOK).transform(TEXTBOOK), columns=encoder.columns_)
    itemsets = fpgrowth(onehot, min_support=0.22, use_colnames=True)
    reference = association_rules(
        itemsets, num_itemsets=len(TEXTBOOK), metric="confidence", min_threshold=0.5
    )
    expected = {
        (tuple(sorted(r.antecedents)), tuple(sorted(r.consequents))): (
            r.support,
            r.confidence,
            r.lift,
        )
        for r in reference.itertuples(index=False)
    }
    got = basket.mine_rules(basket.transactions_from_lists(TEXTBOOK), 0.22, 0.5, None)
    assert len(expected) > 5
    assert set(as_dict(got)) == set(expected)
    for row in got.itertuples(index=False):
        assert (row.support, row.confidence, row.lift) == pytest.approx(
            expected[(row.antecedents, row.consequents)], rel=1e-12
        )
    # the book's worked answer: I5 -> {I1, I2} with confidence 100%
    assert as_dict(got)[(("I5",), ("I1", "I2"))]["confidence"] == 1.0
    assert math.isinf(as_dict(got)[(("I5",), ("I1", "I2"))]["conviction"])


def test_duplicate_lines_count_once_and_empty_baskets_count_in_support() -> None:
    long = pd.DataFrame({"basket_id": ["a", "a", "a", "b", "c"], "item": ["x", "x", "y", "x", "z"]})
    tx = basket.transactions_from_long(long)
    assert tx.n_baskets == 3
    assert dict(zip(tx.items, tx.item_counts(), strict=True)) == {"x": 2, "y": 1, "z": 1}
    rules = as_dict(basket.mine_rules(tx, 0.3, 0.0, None))
    assert rules[(("y",), ("x",))]["support"] == pytest.approx(1 / 3)
    assert rules[(("x",), ("y",))]["confidence"] == pytest.approx(1 / 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_support": 0.0}, "min_support"),
        ({"min_support": 1.5}, "min_support"),
        ({"min_confidence": -0.1}, "min_confidence"),
        ({"max_len": 1}, "max_len"),
    ],
)
def test_bad_thresholds_are_refused_by_name(kwargs, message) -> None:
    tx = basket.transactions_from_lists(TEXTBOOK)
    args = {"min_support": 0.2, "min_confidence": 0.5, "max_len": None, **kwargs}
    with pytest.raises(ValueError, match=message):
        basket.mine_rules(tx, **args)


def test_missing_columns_and_no_baskets_are_named() -> None:
    with pytest.raises(ValueError, match="item"):
        basket.transactions_from_long(pd.DataFrame({"basket_id": ["a"]}))
    with pytest.raises(ValueError, match="no baskets"):
        basket.transactions_from_long(pd.DataFrame({"basket_id": [None], "item": ["x"]}))


# -- the served model ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model():
    lines = pd.DataFrame(
        [(str(b), i) for b, items in enumerate([*TEXTBOOK, ["I6"]]) for i in items],
        columns=["basket_id", "item"],
    )
    names = {"I1": "RED MUG", "I2": "BLUE MUG", "I3": "TEA <SET> & CO", "I5": "SAUCER"}
    return basket.fit_rules(lines, 0.2, 0.5, None, descriptions=names)


def test_rules_for_a_basket_apply_to_it_and_come_best_lift_first(model) -> None:
    got = model.frequently_bought_together(["I1", "I5"], k=100)
    expected = [
        (a, c)
        for a, c in zip(model.rules["antecedents"], model.rules["consequents"], strict=True)
        if set(a) <= {"I1", "I5"} and not set(c) & {"I1", "I5"}
    ]
    assert [(r.antecedents, r.consequents) for r in got] == expected
    assert expected, "no rule applies: the case tests nothing"
    assert [r.lift for r in got] == sorted((r.lift for r in got), reverse=True)
    assert len(model.frequently_bought_together(["I1", "I5"], k=2)) == 2


def test_unknown_products_are_named_and_an_empty_basket_is_refused(model) -> None:
    from models.pyfunc_basket import UnknownProducts

    with pytest.raises(UnknownProducts) as info:
        model.frequently_bought_together(["I1", "NOPE", "ALSO-NOPE"])
    assert info.value.codes == ["NOPE", "ALSO-NOPE"]
    with pytest.raises(ValueError, match="empty"):
        model.frequently_bought_together([])
    # I6 was sold once: in the catalogue with no rule, a known product with an empty answer
    assert model.known_product("I6")
    assert model.frequently_bought_together(["I6"]) == []


def test_next_items_leave_out_the_basket_and_rank_by_confidence(model) -> None:
    got = model.next_items(["I5"], k=5)
    assert got and all(code != "I5" for code, _ in got)
    scores = [s for _, s in got]
    assert scores == sorted(scores, reverse=True)
    assert got[0] == ("I1", 1.0) or got[0] == ("I2", 1.0)


def test_model_survives_pickling_with_the_same_answers(model) -> None:
    again = pickle.loads(pickle.dumps(model))
    assert again.frequently_bought_together(["I1"]) == model.frequently_bought_together(["I1"])
    assert again.describe("I3") == "TEA <SET> & CO"
    frame = again.predict(None, pd.DataFrame({"stock_code": ["I1", "NOPE"]}), {"k": 3})
    assert set(frame["stock_code"]) == {"I1"}
    assert len(frame) == len(model.frequently_bought_together(["I1"], k=3)) > 0


def test_exports_name_the_products_and_escape_them(model) -> None:
    table = basket.rules_table(model.rules, model.descriptions)
    row = table[(table["antecedents"] == "I5") & (table["consequents"] == "I1|I2")].iloc[0]
    assert row["antecedent_names"] == "SAUCER" and row["consequent_names"] == "RED MUG | BLUE MUG"
    page = basket.rules_html(model.rules, model.descriptions, top=100)
    assert "TEA &lt;SET&gt; &amp; CO" in page and "<SET>" not in page
    assert page.count("<tr>") == len(model.rules) + 1


# -- split and hold-out ------------------------------------------------------------------------
def test_temporal_split_keeps_baskets_whole_and_queries_are_reproducible() -> None:
    t0 = pd.Timestamp("2024-01-01")
    lines = pd.DataFrame(
        {
            "basket_id": ["a", "a", "b", "b", "b", "c"],
            "item": ["x", "y", "x", "y", "z", "x"],
            "ordered_at": [t0 + pd.Timedelta(days=d) for d in (0, 0, 40, 40, 40, 5)],
        }
    )
    train, holdout = basket.temporal_split(lines, 10)
    assert set(train["basket_id"]) == {"a", "c"} and set(holdout["basket_id"]) == {"b"}
    q1, q2 = basket.holdout_queries(holdout, 7), basket.holdout_queries(holdout, 7)
    assert q1 == q2 and q1.basket_ids == ["b"]
    assert sorted([*q1.visible[0], q1.hidden[0]]) == ["x", "y", "z"]
    with pytest.raises(ValueError, match="hold-out"):
        basket.temporal_split(lines, 400)


def test_evidence_is_per_basket_and_popularity_is_the_floor(model) -> None:
    queries = basket.HoldoutQueries(["1", "2", "3"], [["I5"], ["I4"], ["I1"]], ["I2", "I9", "I3"])
    metrics, hits = basket.next_item_metrics(model, queries, 5)
    assert list(hits) == [1.0, 0.0, 1.0]
    assert metrics["hit_rate_at_5"] == pytest.approx(2 / 3)
    lines = pd.DataFrame(
        [(str(b), i) for b, items in enumerate(TEXTBOOK) for i in items],
        columns=["basket_id", "item"],
    )
    popular = basket.PopularNextItems(lines)
    assert popular.next_items_batch([["I2"]], 2) == [["I1", "I3"]]
