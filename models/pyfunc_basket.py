"""The basket family's MLflow ``PythonModel``: association rules ready to answer requests.

Kept beside ``models.pyfunc`` (same rule: it imports MLflow at top level, so import it only
where a model is trained or loaded). The rules are held as arrays built once: a sparse
rules x items incidence of antecedents and of consequents, so matching a basket against every
rule is one sparse product, microseconds on a few thousand rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from mlflow.pyfunc import PythonModel


class UnknownProducts(KeyError):
    """Products that no training basket held (the catalogue does not know them)."""

    def __init__(self, codes: Sequence[str]) -> None:
        super().__init__(", ".join(codes))
        self.codes = list(codes)


@dataclass(frozen=True)
class Rule:
    """One association rule as served: codes on each side and its measures."""

    antecedents: tuple[str, ...]
    consequents: tuple[str, ...]
    support: float
    confidence: float
    lift: float
    conviction: float
    n_baskets: int


class BasketRulesModel(PythonModel):
    """Association rules over a catalogue; answers "what goes with these products?".

    ``rules`` is the frame of ``models.basket.mine_rules`` (sorted by lift). The catalogue is
    every product of the training baskets, with or without rules: a known product with no rule
    gets an empty answer, an unknown one ``UnknownProducts``.
    """

    def __init__(
        self,
        items: Sequence[str],
        item_counts: np.ndarray,
        n_baskets: int,
        rules: pd.DataFrame,
        descriptions: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.items = np.asarray([str(i) for i in items], dtype=object)
        self.item_counts = np.asarray(item_counts, dtype=np.int64)
        self.n_baskets = int(n_baskets)
        self.rules = rules.reset_index(drop=True)
        self.descriptions = {str(k): str(v) for k, v in (descriptions or {}).items()}
        self.params = dict(params or {})
        self._index = {code: i for i, code in enumerate(self.items)}
        self._build()

    def _build(self) -> None:
        n_rules, n_items = len(self.rules), len(self.items)

        def incidence(column: str) -> sp.csr_matrix:
            sides = self.rules[column] if n_rules else []
            rows = np.repeat(np.arange(n_rules), [len(s) for s in sides]).astype(np.int64)
            cols = np.array([self._index[c] for s in sides for c in s], dtype=np.int64)
            return sp.csr_matrix(
                (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_rules, n_items)
            )

        self._antecedents = incidence("antecedents")
        self._consequents = incidence("consequents")
        self._antecedent_size = np.asarray(self._antecedents.sum(axis=1)).ravel()
        cons_size = np.asarray(self._consequents.sum(axis=1)).ravel()
        self._single = np.flatnonzero(cons_size == 1)
        for name in ("support", "confidence", "lift", "conviction"):
            values = self.rules[name].to_numpy(dtype=np.float64) if n_rules else np.empty(0)
            setattr(self, f"_{name}", values)
        self._n = self.rules["n_baskets"].to_numpy(dtype=np.int64) if n_rules else np.empty(0)

    def __getstate__(self) -> dict[str, Any]:
        keep = ("items", "item_counts", "n_baskets", "rules", "descriptions", "params")
        return {k: self.__dict__[k] for k in keep}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._index = {code: i for i, code in enumerate(self.items)}
        self._build()

    # -- serving contract -------------------------------------------------------------------
    def known_product(self, stock_code: str) -> bool:
        """Whether any training basket held the product."""
        return str(stock_code) in self._index

    def describe(self, stock_code: str) -> str | None:
        """The product's name (its most frequent description), or None."""
        return self.descriptions.get(str(stock_code))

    def _vector(self, stock_codes: Sequence[str], strict: bool) -> np.ndarray:
        codes = [str(c) for c in stock_codes]
        unknown = [c for c in dict.fromkeys(codes) if c not in self._index]
        if strict and unknown:
            raise UnknownProducts(unknown)
        x = np.zeros(len(self.items), dtype=np.float32)
        x[[self._index[c] for c in codes if c in self._index]] = 1.0
        return x

    def _applicable(self, x: np.ndarray) -> np.ndarray:
        """Rules whose antecedent lies in the basket and whose consequent is not in it yet."""
        inside = self._antecedents @ x
        overlap = self._consequents @ x
        return np.flatnonzero((inside == self._antecedent_size) & (overlap == 0))

    def frequently_bought_together(self, stock_codes: Sequence[str], k: int = 10) -> list[Rule]:
        """The k rules with the highest lift that apply to a basket of ``stock_codes``.

        A rule applies when its antecedent is in the basket and no product of its consequent
        is. Raises ``ValueError`` for an empty basket and ``UnknownProducts`` naming every
        product the catalogue does not know.
        """
        if not stock_codes:
            raise ValueError("the basket is empty: send at least one product")
        x = self._vector(stock_codes, strict=True)
        found = self._applicable(x)[:k]  # rules are stored best lift first
        return [self._rule(int(r)) for r in found]

    def _rule(self, r: int) -> Rule:
        row = self.rules.iloc[r]
        return Rule(
            tuple(row["antecedents"]),
            tuple(row["consequents"]),
            float(self._support[r]),
            float(self._confidence[r]),
            float(self._lift[r]),
            float(self._conviction[r]),
            int(self._n[r]),
        )

    def example_product(self) -> str | None:
        """A product with rules: the antecedent of the best single-product rule, if any."""
        for side in self.rules["antecedents"] if len(self.rules) else []:
            if len(side) == 1:
                return str(side[0])
        return None

    # -- next-item advice (evaluation) ------------------------------------------------------
    def next_items(self, stock_codes: Sequence[str], k: int = 5) -> list[tuple[str, float]]:
        """Products to add to a basket: each scored by the best confidence of a rule
        "(products in the basket) -> product" (lift breaks ties); unknown codes are ignored."""
        x = self._vector(stock_codes, strict=False)
        rules = np.intersect1d(self._applicable(x), self._single, assume_unique=True)
        if len(rules) == 0:
            return []
        items = self._consequents[rules].indices
        conf, lift = self._confidence[rules], self._lift[rules]
        order = np.lexsort((-lift, -conf))
        out: dict[int, float] = {}
        for j in order:
            out.setdefault(int(items[j]), float(conf[j]))
            if len(out) >= k:
                break
        return [(str(self.items[i]), score) for i, score in out.items()]

    def next_items_batch(self, baskets: Sequence[Sequence[str]], k: int = 5) -> list[list[str]]:
        """:meth:`next_items` codes for many baskets."""
        return [[code for code, _ in self.next_items(b, k)] for b in baskets]

    # -- pyfunc --------------------------------------------------------------------------------
    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None):
        """Batch pyfunc: a ``stock_code`` column in, the product's top rules out (one per row)."""
        k = int((params or {}).get("k", 10))
        rows = []
        for code in model_input["stock_code"].astype(str):
            if not self.known_product(code):
                continue
            for rank, rule in enumerate(self.frequently_bought_together([code], k), start=1):
                rows.append(
                    (
                        code,
                        rank,
                        "|".join(rule.antecedents),
                        "|".join(rule.consequents),
                        rule.support,
                        rule.confidence,
                        rule.lift,
                    )
                )
        columns = ["stock_code", "rank", "antecedents", "consequents", "support", "confidence"]
        return pd.DataFrame(rows, columns=[*columns, "lift"])
