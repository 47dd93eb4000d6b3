"""Frequently bought together: association rules mined with FP-growth on baskets.

One invoice is one basket (cancellations and returned lines out), read from mart
``fct_order_lines``; product names come from ``dim_products``. Frequent itemsets are found by
mlxtend's ``fpgrowth`` (the reference implementation; it runs on our locked pandas and numpy),
on a boolean basket x item matrix that keeps only the items frequent enough to appear in any
frequent itemset (every basket stays, so supports are fractions of all baskets). Rules are
derived here from the itemset counts, so confidence is exact (a ratio of counts) and conviction
is infinite, not a division error, when confidence is 1:

- support(A -> C) = baskets with A and C / baskets
- confidence = support(A u C) / support(A)
- lift = confidence / support(C)
- conviction = (1 - support(C)) / (1 - confidence)

The rule set equals mlxtend's ``fpgrowth`` + ``association_rules(metric="confidence")`` on the
same input and thresholds (``tests/unit/test_basket_rules.py`` and ``bench/basket_rules.py``).

The gate judges rules as a "next item" recommender on a temporal hold-out of baskets: in every
hold-out basket with at least two products one product (drawn with the run's seed) is hidden,
and the rules that apply to the rest rank candidates by confidence. The unit is the basket,
the statistic the hit rate at k; the floor is the most popular products not in the basket.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mercato.settings import Settings, get_settings
from models.family import Fitted, ModelFamily, Split
from models.gate import Evidence, mean_evidence

if TYPE_CHECKING:
    import scipy.sparse as sp

    from models.pyfunc_basket import BasketRulesModel

MODEL_NAME = "mercato_basket_rules"
EXPERIMENT = "mercato_basket"
#: Defaults of the family's parameters, chosen on the real Online Retail file
#: (bench/basket_rules.py):
#: at 1% of baskets the real file gives ~1,800 itemsets and ~1,000 rules in a few seconds;
#: at 0.5% mining takes about three times longer for ten times as many itemsets.
DEFAULT_MIN_SUPPORT = 0.01
#: A rule is kept when at least this share of the baskets holding its antecedent hold its
#: consequent too.
DEFAULT_MIN_CONFIDENCE = 0.2
#: Largest itemset mined (rules "A, B -> C" at most): bundles of more are rarely actionable,
#: and the miner's time grows with the length.
DEFAULT_MAX_LEN = 3
#: Hit rate at this many suggestions is what the gate decides on (a cross-sell strip's size).
DEFAULT_K = 5
#: The least hit rate worth serving; the popularity floor is the real bar.
MINIMUM_HIT_RATE = 0.01
#: How many rules the HTML export shows.
TOP_RULES_HTML = 50
RULE_COLUMNS = (
    "antecedents",
    "consequents",
    "antecedent_support",
    "consequent_support",
    "support",
    "confidence",
    "lift",
    "conviction",
    "n_baskets",
)


# -- transactions ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Transactions:
    """Baskets as a boolean CSR matrix (baskets x items), with the ids of both axes."""

    matrix: sp.csr_matrix
    basket_ids: np.ndarray
    items: np.ndarray

    @property
    def n_baskets(self) -> int:
        return int(self.matrix.shape[0])

    def item_counts(self) -> np.ndarray:
        """Baskets holding each item."""
        return np.asarray(self.matrix.sum(axis=0)).ravel().astype(np.int64)


def transactions_from_long(frame: pd.DataFrame, basket: str = "basket_id", item: str = "item"):
    """Encode a long frame (one row per basket and item; duplicates count once).

    Raises ``ValueError`` naming what is missing: a column, or any basket at all.
    """
    import scipy.sparse as sp

    missing = [c for c in (basket, item) if c not in frame.columns]
    if missing:
        raise ValueError(f"baskets lack column(s) {missing}; need {basket!r} and {item!r}")
    frame = frame.dropna(subset=[basket, item])
    if frame.empty:
        raise ValueError("no baskets: every row lacks a basket id or an item")
    basket_ids, b_idx = _codes(frame[basket])
    items, i_idx = _codes(frame[item])
    matrix = sp.csr_matrix(
        (np.ones(len(b_idx), dtype=bool), (b_idx, i_idx)), shape=(len(basket_ids), len(items))
    )
    matrix.sum_duplicates()
    matrix.data[:] = True
    return Transactions(matrix, basket_ids, items)


def _codes(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct values as text, each row's index into them), like ``np.unique``.

    Factorizing the column's objects avoids the fixed-width text copy of every row that
    ``np.unique(column.to_numpy(dtype=str))`` makes (its size grows with the longest value).
    """
    values = column.astype(str) if column.dtype != object else column
    index, distinct = pd.factorize(values.to_numpy(), sort=True)
    return np.asarray(distinct, dtype=str), index


def transactions_from_lists(baskets: Iterable[Iterable[str]]) -> Transactions:
    """Encode baskets given as lists of items (basket ids are their positions)."""
    rows = [(str(b), str(i)) for b, items in enumerate(baskets) for i in items]
    return transactions_from_long(pd.DataFrame(rows, columns=["basket_id", "item"]))


def _check_thresholds(min_support: float, min_confidence: float, max_len: int | None) -> None:
    if not (isinstance(min_support, int | float) and 0.0 < float(min_support) <= 1.0):
        raise ValueError(f"min_support must be in (0, 1] (a share of baskets), got {min_support!r}")
    if not (isinstance(min_confidence, int | float) and 0.0 <= float(min_confidence) <= 1.0):
        raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence!r}")
    if max_len is not None and (not isinstance(max_len, int) or max_len < 2):
        raise ValueError(f"max_len must be at least 2 (a rule needs two items), got {max_len!r}")


# -- mining ------------------------------------------------------------------------------------
def frequent_itemsets(
    tx: Transactions, min_support: float, max_len: int | None = None
) -> dict[frozenset[int], int]:
    """Every itemset in at least ``min_support`` of the baskets -> its basket count (FP-growth).

    Only items that pass the threshold on their own are handed to ``fpgrowth`` (no itemset can
    hold another), with mlxtend's own test (``count / n >= min_support``), so the result is the
    same as on the full matrix in a fraction of the memory.
    """
    from mlxtend.frequent_patterns import fpgrowth

    n = tx.n_baskets
    counts = tx.item_counts()
    keep = np.flatnonzero(counts / float(n) >= min_support)
    if len(keep) == 0:
        return {}
    dense = pd.DataFrame(tx.matrix[:, keep].toarray(), columns=range(len(keep)))
    found = fpgrowth(dense, min_support=min_support, use_colnames=True, max_len=max_len)
    out: dict[frozenset[int], int] = {}
    for itemset, support in zip(found["itemsets"], found["support"], strict=True):
        # mlxtend reports support = count / n; the count is an integer, round it back.
        out[frozenset(int(keep[i]) for i in itemset)] = int(round(float(support) * n))
    return out


def rules_from_itemsets(
    itemsets: Mapping[frozenset[int], int],
    n_baskets: int,
    items: Sequence[str],
    min_confidence: float,
) -> pd.DataFrame:
    """Every rule A -> C with A u C frequent, A and C non-empty and disjoint, confidence kept.

    Columns ``RULE_COLUMNS``; items in ``antecedents``/``consequents`` are tuples of codes,
    sorted. Rows are sorted by lift, then confidence, then support (best first).
    """
    items = [str(i) for i in items]
    rows = []
    n = float(n_baskets)
    for itemset, count_ac in itemsets.items():
        if len(itemset) < 2:
            continue
        for size in range(1, len(itemset)):
            for antecedent in combinations(sorted(itemset), size):
                a = frozenset(antecedent)
                c = itemset - a
                count_a, count_c = itemsets[a], itemsets[c]
                confidence = count_ac / count_a
                if confidence < min_confidence:
                    continue
                support_c = count_c / n
                conviction = (
                    math.inf if confidence >= 1.0 else (1.0 - support_c) / (1.0 - confidence)
                )
                rows.append(
                    (
                        tuple(sorted(items[i] for i in a)),
                        tuple(sorted(items[i] for i in c)),
                        count_a / n,
                        support_c,
                        count_ac / n,
                        confidence,
                        confidence / support_c,
                        conviction,
                        count_ac,
                    )
                )
    rules = pd.DataFrame(rows, columns=list(RULE_COLUMNS))
    if rules.empty:
        return rules.astype({"n_baskets": "int64"})
    order = np.lexsort(
        (
            rules["consequents"].map("|".join).to_numpy(),
            rules["antecedents"].map("|".join).to_numpy(),
            -rules["support"].to_numpy(),
            -rules["confidence"].to_numpy(),
            -rules["lift"].to_numpy(),
        )
    )
    return rules.iloc[order].reset_index(drop=True)


def mine_rules(
    tx: Transactions,
    min_support: float = DEFAULT_MIN_SUPPORT,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    max_len: int | None = DEFAULT_MAX_LEN,
) -> pd.DataFrame:
    """Association rules of ``tx`` at the thresholds (see the module docstring for the metrics)."""
    _check_thresholds(min_support, min_confidence, max_len)
    if tx.n_baskets == 0:
        raise ValueError("no baskets to mine")
    itemsets = frequent_itemsets(tx, min_support, max_len)
    return rules_from_itemsets(itemsets, tx.n_baskets, list(tx.items), min_confidence)


def rules_table(rules: pd.DataFrame, descriptions: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Rules as flat text for people and spreadsheets: items joined by ``|``, with their names."""
    names = descriptions or {}

    def label(codes: tuple[str, ...]) -> str:
        return " | ".join(names.get(code) or code for code in codes)

    out = rules.copy()
    out["antecedent_names"] = out["antecedents"].map(label)
    out["consequent_names"] = out["consequents"].map(label)
    out["antecedents"] = out["antecedents"].map("|".join)
    out["consequents"] = out["consequents"].map("|".join)
    first = ["antecedents", "antecedent_names", "consequents", "consequent_names"]
    return out[first + [c for c in out.columns if c not in first]]


def rules_html(rules: pd.DataFrame, descriptions: Mapping[str, str], top: int = TOP_RULES_HTML):
    """A self-contained HTML page of the top rules by lift, with product names (no CDN)."""
    import html

    table = rules_table(rules.head(top), descriptions)
    head = (
        "<tr><th>#</th><th>if the basket holds</th><th>it also holds</th>"
        "<th>lift</th><th>confidence</th><th>support</th><th>baskets</th></tr>"
    )
    body = []
    for rank, row in enumerate(table.itertuples(index=False), start=1):

        def cell(codes: str, names: str) -> str:
            pairs = zip(codes.split("|"), names.split(" | "), strict=True)
            return "<br>".join(
                f"{html.escape(n)} <small>({html.escape(c)})</small>" for c, n in pairs
            )

        body.append(
            f"<tr><td>{rank}</td><td>{cell(row.antecedents, row.antecedent_names)}</td>"
            f"<td>{cell(row.consequents, row.consequent_names)}</td>"
            f"<td>{row.lift:.2f}</td><td>{row.confidence:.0%}</td>"
            f"<td>{row.support:.2%}</td><td>{row.n_baskets}</td></tr>"
        )
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}th{background:#eee}"
        "td:nth-child(n+4){text-align:right}"
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Frequently bought together"
        f"</title><style>{style}</style></head><body><h1>Frequently bought together</h1>"
        f"<p>Top {len(table)} of {len(rules)} rules by lift. Lift: how many times more often "
        "the products are bought together than if they were unrelated. Confidence: share of "
        "the baskets with the first products that also hold the others. Support: share of all "
        f"baskets holding them all.</p><table>{head}{''.join(body)}</table></body></html>"
    )


# -- data --------------------------------------------------------------------------------------
def build_basket_data(settings: Settings | None = None) -> pd.DataFrame:
    """Basket lines from mart ``fct_order_lines`` with product names from ``dim_products``.

    Columns ``basket_id`` (the invoice), ``item`` (stock code), ``ordered_at``, ``description``;
    one row per basket and product. Cancellations and non-positive quantities are left out.
    """
    from warehouse import reader

    settings = settings or get_settings()
    lines = reader.query(
        settings,
        """
        select invoice_no as basket_id, stock_code as item, min(ordered_at) as ordered_at
        from main.fct_order_lines
        where not is_cancellation and quantity > 0
        group by invoice_no, stock_code
        order by ordered_at, basket_id, item
        """,
    )
    # Names are read once per product and held as a categorical (a small code per line), not
    # as one text object per line: the column costs little more as order lines grow.
    names = reader.query(
        settings,
        "select stock_code as item, any_value(description) as description "
        "from main.dim_products group by stock_code",
    )
    index, products = pd.factorize(lines["item"])
    named = pd.Series(products).map(dict(zip(names["item"], names["description"], strict=True)))
    lines["description"] = pd.Categorical(named.to_numpy()[index])
    return lines


def descriptions_of(lines: pd.DataFrame) -> dict[str, str]:
    """Product code -> name, from a lines frame with a ``description`` column (if any)."""
    if "description" not in lines.columns:
        return {}
    named = lines.dropna(subset=["description"]).drop_duplicates("item")
    return dict(zip(named["item"].astype(str), named["description"].astype(str), strict=True))


def temporal_split(lines: pd.DataFrame, holdout_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(baskets before the cut-off, baskets from it on): cut-off = last basket - holdout_days.

    A basket is placed by its first line's time, so no basket is cut in two.
    """
    if lines.empty:
        raise ValueError("no basket lines to split")
    basket_time = lines.groupby("basket_id")["ordered_at"].transform("min")
    cutoff = basket_time.max() - pd.Timedelta(days=holdout_days)
    before = basket_time < cutoff
    if not before.any() or before.all():
        raise ValueError(
            f"a {holdout_days}-day hold-out leaves no baskets on one side of the cut-off "
            f"{cutoff}; send more history or shorten MERCATO_HOLDOUT_DAYS"
        )
    return lines[before].reset_index(drop=True), lines[~before].reset_index(drop=True)


@dataclass(frozen=True)
class HoldoutQueries:
    """For each hold-out basket with two or more products: the visible ones and the hidden one."""

    basket_ids: list[str]
    visible: list[list[str]]
    hidden: list[str]


def holdout_queries(holdout: pd.DataFrame, seed: int) -> HoldoutQueries:
    """Hide one product per hold-out basket (drawn with ``seed``): the same units for any model."""
    rng = np.random.default_rng(seed)
    ids, visible, hidden = [], [], []
    grouped = holdout.groupby("basket_id", sort=True)["item"].agg(
        lambda s: sorted(set(map(str, s)))
    )
    for basket_id, products in grouped.items():
        if len(products) < 2:
            continue
        h = int(rng.integers(len(products)))
        ids.append(str(basket_id))
        hidden.append(products[h])
        visible.append(products[:h] + products[h + 1 :])
    return HoldoutQueries(ids, visible, hidden)


# -- models --------------------------------------------------------------------------------------
def fit_rules(
    lines: pd.DataFrame,
    min_support: float = DEFAULT_MIN_SUPPORT,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    max_len: int | None = DEFAULT_MAX_LEN,
    descriptions: Mapping[str, str] | None = None,
) -> BasketRulesModel:
    """Mine rules on ``lines`` (basket_id, item[, description]) and wrap them for serving."""
    from models.pyfunc_basket import BasketRulesModel

    tx = transactions_from_long(lines)
    rules = mine_rules(tx, min_support, min_confidence, max_len)
    names = dict(descriptions) if descriptions is not None else descriptions_of(lines)
    return BasketRulesModel(
        items=tx.items,
        item_counts=tx.item_counts(),
        n_baskets=tx.n_baskets,
        rules=rules,
        descriptions=names,
        params={"min_support": min_support, "min_confidence": min_confidence, "max_len": max_len},
    )


def refit(model: Any, lines: pd.DataFrame) -> BasketRulesModel:
    """The same thresholds as ``model``, mined on ``lines``."""
    p = model.params
    return fit_rules(lines, p["min_support"], p["min_confidence"], p.get("max_len"))


class PopularNextItems:
    """The floor: the most popular products (by baskets) that are not in the basket yet."""

    def __init__(self, lines: pd.DataFrame) -> None:
        counts = lines.groupby("item")["basket_id"].nunique()
        order = np.lexsort((counts.index.to_numpy(dtype=str), -counts.to_numpy()))
        self.ranked = [str(counts.index[i]) for i in order]

    def next_items_batch(self, baskets: Sequence[Sequence[str]], k: int) -> list[list[str]]:
        out = []
        for basket in baskets:
            have = set(basket)
            out.append([i for i in self.ranked[: k + len(have)] if i not in have][:k])
        return out


class RulesThenPopular:
    """Rules first, the most popular products after them (reported, not served)."""

    def __init__(self, rules: Any, popular: PopularNextItems) -> None:
        self.rules, self.popular = rules, popular

    def next_items_batch(self, baskets: Sequence[Sequence[str]], k: int) -> list[list[str]]:
        out = []
        lists = self.rules.next_items_batch(baskets, k)
        fill = self.popular.next_items_batch(baskets, 2 * k)
        for ruled, popular in zip(lists, fill, strict=True):
            extra = [i for i in popular if i not in set(ruled)]
            out.append((list(ruled) + extra)[:k])
        return out


def next_item_hits(model: Any, queries: HoldoutQueries, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per hold-out basket: (1 if the hidden product is in the top k, length of the list)."""
    lists = model.next_items_batch(queries.visible, k)
    hits = np.array([h in lst[:k] for h, lst in zip(queries.hidden, lists, strict=True)], float)
    lengths = np.array([min(len(lst), k) for lst in lists], dtype=float)
    return hits, lengths


def next_item_metrics(model: Any, queries: HoldoutQueries, k: int) -> tuple[dict, np.ndarray]:
    """Hit rate@k, precision of what was answered, share answered; and the per-basket hits."""
    hits, lengths = next_item_hits(model, queries, k)
    answered = lengths > 0
    metrics = {
        f"hit_rate_at_{k}": float(hits.mean()) if len(hits) else float("nan"),
        f"precision_at_{k}": float((hits / k).mean()) if len(hits) else float("nan"),
        f"answered_precision_at_{k}": (
            float((hits[answered] / lengths[answered]).mean()) if answered.any() else 0.0
        ),
        "answered_share": float(answered.mean()) if len(hits) else 0.0,
        "n_holdout_baskets": float(len(hits)),
    }
    return metrics, hits


class BasketFamily(ModelFamily):
    """Association rules served as "frequently bought together", gated as next-item advice.

    The judged model is mined on the baskets before the cut-off; the served one is mined with
    the same thresholds on every basket. The champion is judged the same way: its thresholds
    re-mined on this run's training baskets and scored on this run's hold-out.
    """

    name = "basket"
    registered_model = MODEL_NAME
    experiment = EXPERIMENT
    reads = "mart fct_order_lines (one invoice = one basket, cancellations out) and dim_products"
    metric = f"hit_rate_at_{DEFAULT_K}"
    minimum = MINIMUM_HIT_RATE
    chance = 0.0
    api = "serving.apis.basket"
    summary = "frequently bought together: association rules (FP-growth) with lift and confidence"

    def __init__(
        self,
        min_support: float = DEFAULT_MIN_SUPPORT,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        max_len: int | None = DEFAULT_MAX_LEN,
        k: int = DEFAULT_K,
    ) -> None:
        _check_thresholds(min_support, min_confidence, max_len)
        self.min_support = min_support
        self.min_confidence = min_confidence
        self.max_len = max_len
        self.k = k
        self.metric = f"hit_rate_at_{k}"

    def load_data(self, settings: Settings) -> pd.DataFrame:
        return build_basket_data(settings)

    def split(self, data: pd.DataFrame, settings: Settings) -> Split:
        train, holdout = temporal_split(data, settings.holdout_days)
        info = {
            "holdout_days": settings.holdout_days,
            "n_train_baskets": int(train["basket_id"].nunique()),
            "n_holdout_baskets_all": int(holdout["basket_id"].nunique()),
        }
        return Split(train, holdout, data, info)

    def fit(self, split: Split, settings: Settings) -> Fitted:
        k = self.k
        thresholds = (self.min_support, self.min_confidence, self.max_len)
        names = descriptions_of(split.data)
        start = time.perf_counter()
        model = fit_rules(split.train, *thresholds, descriptions=names)
        train_seconds = time.perf_counter() - start
        start = time.perf_counter()
        served = fit_rules(split.data, *thresholds, descriptions=names)
        served_seconds = time.perf_counter() - start
        popular = PopularNextItems(split.train)
        queries = holdout_queries(split.holdout, settings.seed)
        contenders = {
            "rules": model,
            "rules_then_popular": RulesThenPopular(model, popular),
            "popularity": popular,
        }
        comparison = {name: next_item_metrics(m, queries, k)[0] for name, m in contenders.items()}
        example = served.example_product() or str(served.items[0])
        return Fitted(
            model=model,
            served=served,
            input_example=pd.DataFrame({"stock_code": [example]}),
            pyfunc_params={"k": 10},
            params={
                "min_support": self.min_support,
                "min_confidence": self.min_confidence,
                "max_len": self.max_len if self.max_len is not None else "none",
                "k": k,
                "seed": settings.seed,
                "miner": "mlxtend.fpgrowth",
            },
            metrics={
                "n_rules": float(len(model.rules)),
                "n_served_rules": float(len(served.rules)),
                "n_served_baskets": float(served.n_baskets),
                "train_seconds": train_seconds,
                "served_train_seconds": served_seconds,
                **{
                    f"{name}.{key}": float(v)
                    for name, m in comparison.items()
                    for key, v in m.items()
                },
            },
            floor=comparison["popularity"][f"hit_rate_at_{k}"],
            tags={
                "min_support": self.min_support,
                "min_confidence": self.min_confidence,
                "max_len": self.max_len,
            },
            details={"comparison": comparison, "n_rules": len(served.rules)},
            run_name=f"basket-s{self.min_support:g}-c{self.min_confidence:g}",
            state={"contenders": contenders},
        )

    def evaluate(self, model: Any, split: Split, fitted: Fitted) -> Evidence:
        metrics, hits = next_item_metrics(
            model, holdout_queries(split.holdout, _seed(fitted)), self.k
        )
        return mean_evidence(metrics, hits)

    def evaluate_champion(self, champion: Any, split: Split, fitted: Fitted) -> Evidence:
        """The champion's thresholds re-mined on this run's training baskets."""
        return self.evaluate(refit(champion, split.train), split, fitted)

    def log(self, fitted: Fitted, split: Split) -> None:
        import mlflow

        served = fitted.to_serve
        table = rules_table(served.rules, served.descriptions)
        mlflow.log_text(table.to_csv(index=False), "rules.csv")
        mlflow.log_text(rules_html(served.rules, served.descriptions), "top_rules.html")
        top = table.head(TOP_RULES_HTML).replace([np.inf], np.finfo(float).max)
        mlflow.log_table(top, "top_rules.json")
        mlflow.log_dict(fitted.details["comparison"], "comparison.json")


def _seed(fitted: Fitted) -> int:
    return int(fitted.params.get("seed", 0))


FAMILY = BasketFamily()
