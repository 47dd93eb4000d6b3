"""The objects the registry stores and serving unwraps: one MLflow ``PythonModel`` per family.

``mlflow.pyfunc.load_model("models:/NAME@champion").unwrap_python_model()`` returns one of these.
Every per-request method works on NumPy/SciPy arrays prepared when the model was built (lookup
dicts included), so a call costs microseconds and never builds a DataFrame. ``predict`` is the
generic batch interface of pyfunc (DataFrame in, DataFrame out) for ``mlflow models`` tooling.

This module imports MLflow at top level: import it only where a model is trained or loaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from mlflow.pyfunc import PythonModel


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest finite scores, best first (ties broken by index, stable)."""
    finite = np.isfinite(scores)
    n = int(finite.sum())
    k = min(k, n)
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    part = part[np.isfinite(scores[part])]
    return part[np.lexsort((part, -scores[part]))][:k]


class RecommenderModel(PythonModel):
    """Recommender over one catalogue: item-to-item or user-to-user scores, cold start = popularity.

    ``W`` (items x items, CSR, row = source item) holds the learned item weights of any
    item-based method (cosine neighbours, EASE, RP3beta, content, hybrid); ``None`` means pure
    popularity. A user-based method sets ``user_weights`` (users x users) instead and scores
    ``user_weights(user) @ history``; its ``W`` (item cosine) answers ``similar_items``.
    ``history`` (users x items, CSR) holds each known customer's bought items with their weight.
    ``content`` (items x items, TF-IDF cosine of the item text) answers where the method has
    nothing to say: an item without learned neighbours, a customer whose history scores no item.
    ``descriptions`` names every item in the answers. ``seen`` (users x items) lists what each
    user already has when it differs from ``history``: with explicit ratings the history holds
    the liked items (or mean-centred ratings) and ``seen`` every item rated.
    """

    def __init__(
        self,
        algorithm: str,
        user_ids: Sequence[str],
        item_ids: Sequence[str],
        history: sp.csr_matrix,
        weights: sp.csr_matrix | None,
        popularity: np.ndarray,
        params: Mapping[str, Any] | None = None,
        user_weights: sp.csr_matrix | None = None,
        content: sp.csr_matrix | None = None,
        descriptions: Sequence[str | None] | None = None,
        seen: sp.csr_matrix | None = None,
    ) -> None:
        self.algorithm = algorithm
        self.params = dict(params or {})
        self.user_ids = np.asarray([str(u) for u in user_ids], dtype=object)
        self.item_ids = np.asarray([str(i) for i in item_ids], dtype=object)
        self.history = sp.csr_matrix(history, dtype=np.float32)
        self.weights = None if weights is None else sp.csr_matrix(weights, dtype=np.float32)
        self.user_weights = (
            None if user_weights is None else sp.csr_matrix(user_weights, dtype=np.float32)
        )
        self.content = None if content is None else sp.csr_matrix(content, dtype=np.float32)
        self.descriptions = (
            None
            if descriptions is None
            else np.asarray([d if d else None for d in descriptions], dtype=object)
        )
        #: every item each user has (rated, liked or not); None: the history's items
        self.seen = None if seen is None else sp.csr_matrix(seen, dtype=np.float32)
        pop = np.asarray(popularity, dtype=np.float64)
        self.popularity = pop / pop.max() if pop.size and pop.max() > 0 else pop
        self._index()

    def _index(self) -> None:
        """Lookups derived from the arrays (rebuilt on load, never stored twice)."""
        # Popularity breaks ties (and fills lists when a history scores too few items) without
        # ever overturning a real difference in score.
        self._tiebreak = 1e-9 * self.popularity
        self._popular_order = _top_k(self.popularity.copy(), len(self.popularity))
        self._user_index = {u: i for i, u in enumerate(self.user_ids)}
        self._item_index = {s: i for i, s in enumerate(self.item_ids)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Versions registered before user-based, content and descriptions load as before."""
        state.setdefault("user_weights", None)
        state.setdefault("content", None)
        state.setdefault("descriptions", None)
        state.setdefault("seen", None)
        self.__dict__.update(state)

    # -- serving contract -------------------------------------------------------------------
    def known_customer(self, customer_id: str) -> bool:
        """Whether the customer has a purchase history in the model's training data."""
        return str(customer_id) in self._user_index

    def recommend(
        self, customer_id: str, k: int = 10, exclude_bought: bool = True
    ) -> list[tuple[str, float]]:
        """Top k (stock_code, score) for a customer; unknown customers get the popular items."""
        return self.recommend_explained(customer_id, k, exclude_bought)[0]

    def recommend_explained(
        self, customer_id: str, k: int = 10, exclude_bought: bool = True
    ) -> tuple[list[tuple[str, float]], str]:
        """``recommend`` and the method that answered (the algorithm, content or popularity)."""
        u = self._user_index.get(str(customer_id))
        if u is None:
            return self.popular(k), "popularity"
        scores, by_content = self._score_rows(np.array([u]))
        scores = scores[0]
        if exclude_bought:
            had = self.history if self.seen is None else self.seen
            scores[had.indices[had.indptr[u] : had.indptr[u + 1]]] = -np.inf
        top = _top_k(scores, k)
        method = "content" if by_content[0] else self.algorithm
        return [(self.item_ids[i], float(scores[i])) for i in top], method

    def similar_items(self, stock_code: str, k: int = 10) -> list[tuple[str, float]]:
        """Items most associated with ``stock_code``; raises ``KeyError`` for unknown items."""
        return self.similar_items_explained(stock_code, k)[0]

    def similar_items_explained(
        self, stock_code: str, k: int = 10
    ) -> tuple[list[tuple[str, float]], str]:
        """``similar_items`` and the method that answered.

        The learned item weights answer when the item has any; otherwise (an item nobody has
        bought with others yet) the content similarity of its text, else popularity.
        """
        i = self._item_index[str(stock_code)]
        method = self.similar_method
        row = None if self.weights is None else self.weights[i]
        if (row is None or row.nnz == 0) and self.content is not None and self.content[i].nnz:
            row, method = self.content[i], "content"
        if row is None:
            scores, method = self.popularity.astype(np.float64).copy(), "popularity"
        else:
            scores = row.toarray().ravel().astype(np.float64) + self._tiebreak
        scores[i] = -np.inf
        top = _top_k(scores, k)
        return [(self.item_ids[j], float(scores[j])) for j in top], method

    @property
    def similar_method(self) -> str:
        """The method behind ``similar_items`` for items with learned neighbours."""
        if self.weights is None:
            return "popularity"
        return "itemknn" if self.user_weights is not None else self.algorithm

    def describe(self, stock_code: str) -> str | None:
        """The product's description (its name), if the model was trained with item text."""
        if self.descriptions is None:
            return None
        i = self._item_index.get(str(stock_code))
        return None if i is None else self.descriptions[i]

    def popular(self, k: int = 10) -> list[tuple[str, float]]:
        """The cold-start answer: most popular items with their normalised popularity."""
        return [(self.item_ids[i], float(self.popularity[i])) for i in self._popular_order[:k]]

    # -- batch helpers used by evaluation and the bench ----------------------------------------
    def _score_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(scores of the users ``rows`` over the catalogue, which rows content answered)."""
        by_content = np.zeros(len(rows), dtype=bool)
        if self.user_weights is not None:
            scores = (self.user_weights[rows] @ self.history).toarray().astype(np.float64)
        elif self.weights is not None:
            scores = (self.history[rows] @ self.weights).toarray().astype(np.float64)
        else:
            base = np.broadcast_to(self.popularity, (len(rows), len(self.item_ids))).copy()
            return base.astype(np.float64), by_content
        if self.content is not None and len(rows):
            by_content = scores.max(axis=1) <= 0
            if by_content.any():
                hist = self.history[rows[by_content]]
                scores[by_content] = (hist @ self.content).toarray()
        return scores + self._tiebreak, by_content

    def recommend_batch(
        self,
        customer_ids: Sequence[str],
        k: int = 10,
        exclude_bought: bool = True,
        with_scores: bool = False,
    ) -> list[list[Any]]:
        """Top-k stock codes (or (code, score) pairs) for many customers, 2,000 rows a chunk."""
        out: list[list[Any]] = []
        popular = self.popular(k)
        if not with_scores:
            popular = [code for code, _ in popular]
        ids = [str(c) for c in customer_ids]
        rows = np.array([self._user_index.get(c, -1) for c in ids])
        for start in range(0, len(rows), 2000):
            chunk = rows[start : start + 2000]
            known = chunk[chunk >= 0]
            scores = self._score_rows(known)[0] if len(known) else np.empty((0, 0))
            if exclude_bought and len(known):
                sub = (self.history if self.seen is None else self.seen)[known].tocoo()
                scores[sub.row, sub.col] = -np.inf
            j = 0
            for r in chunk:
                if r < 0:
                    out.append(list(popular))
                    continue
                top = _top_k(scores[j], k)
                if with_scores:
                    out.append([(self.item_ids[i], float(scores[j, i])) for i in top])
                else:
                    out.append([self.item_ids[i] for i in top])
                j += 1
        return out

    # -- pyfunc --------------------------------------------------------------------------------
    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None):
        """Batch pyfunc: ``customer_id`` column in, one row per (customer, rank) out."""
        k = int((params or {}).get("k", 10))
        exclude = bool((params or {}).get("exclude_bought", True))
        rows = []
        for cid in model_input["customer_id"].astype(str):
            for rank, (item, score) in enumerate(self.recommend(cid, k, exclude), start=1):
                rows.append((cid, item, rank, score))
        return pd.DataFrame(rows, columns=["customer_id", "stock_code", "rank", "score"])


class _FeatureVector:
    """Features named and ordered as at training, with the scaler fitted there."""

    def _set_features(
        self,
        feature_names: Sequence[str],
        log_features: Sequence[str],
        mean: np.ndarray,
        scale: np.ndarray,
    ) -> None:
        self.feature_names = list(feature_names)
        self.log_features = list(log_features)
        self._log_mask = np.array([f in set(log_features) for f in self.feature_names])
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)

    def _row(self, features: Mapping[str, float]) -> np.ndarray:
        """One customer's features as a (1, d) array; missing ones count as 0."""
        return np.array([[float(features.get(f, 0.0) or 0.0) for f in self.feature_names]])

    def _matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """A DataFrame's feature columns as an (n, d) array; missing values count as 0."""
        return frame.reindex(columns=self.feature_names).fillna(0.0).to_numpy(dtype=float)


class SegmentationModel(_FeatureVector, PythonModel):
    """Nearest-centroid assignment in a standardised log space, with stable segment ids."""

    def __init__(
        self,
        feature_names: Sequence[str],
        log_features: Sequence[str],
        mean: np.ndarray,
        scale: np.ndarray,
        centroids: np.ndarray,
        segment_ids: Sequence[int],
        profiles: Mapping[int, dict],
    ) -> None:
        self._set_features(feature_names, log_features, mean, scale)
        #: centroids in the standardised space, one row per segment id in ``segment_ids``
        self.centroids = np.asarray(centroids, dtype=np.float64)
        self.segment_ids = np.asarray(segment_ids, dtype=np.int64)
        self.profiles = {int(k): dict(v) for k, v in profiles.items()}

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Raw features (n, d) -> standardised space; log1p of the clipped skewed columns."""
        x = np.asarray(x, dtype=np.float64).copy()
        x[:, self._log_mask] = np.log1p(np.clip(x[:, self._log_mask], 0.0, None))
        return (x - self.mean) / self.scale

    def log_space_centroids(self) -> np.ndarray:
        """Centroids before standardisation, comparable across models with other scalers."""
        return self.centroids * self.scale + self.mean

    def assign_many(self, x: np.ndarray) -> np.ndarray:
        """Segment id per row of raw features ordered as ``feature_names``."""
        z = self.transform(np.atleast_2d(x))
        d = ((z[:, None, :] - self.centroids[None, :, :]) ** 2).sum(axis=2)
        return self.segment_ids[d.argmin(axis=1)]

    def assign(self, features: Mapping[str, float]) -> int:
        """Segment id for one customer; missing features count as 0."""
        x = self._row(features)
        return int(self.assign_many(x)[0])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None):
        x = self._matrix(model_input)
        return pd.DataFrame({"segment_id": self.assign_many(x)})


class PropensityModel(_FeatureVector, PythonModel):
    """Logistic regression as plain arrays: p = sigmoid(((f(x) - mean) / scale) @ coef + b).

    ``f`` is a signed log1p on the skewed columns. The intercept already carries the prior
    correction for class weighting, so the output is a calibrated probability.
    """

    def __init__(
        self,
        feature_names: Sequence[str],
        log_features: Sequence[str],
        mean: np.ndarray,
        scale: np.ndarray,
        coef: np.ndarray,
        intercept: float,
    ) -> None:
        self._set_features(feature_names, log_features, mean, scale)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).copy()
        x[:, self._log_mask] = np.sign(x[:, self._log_mask]) * np.log1p(
            np.abs(x[:, self._log_mask])
        )
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def predict_proba_many(self, x: np.ndarray) -> np.ndarray:
        """Probability of a purchase within the horizon, per row ordered as ``feature_names``."""
        return 1.0 / (1.0 + np.exp(-self.decision_function(np.atleast_2d(x))))

    def predict_proba(self, features: Mapping[str, float]) -> float:
        """Probability for one customer; missing features count as 0."""
        x = self._row(features)
        return float(self.predict_proba_many(x)[0])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None):
        x = self._matrix(model_input)
        return pd.DataFrame({"probability": self.predict_proba_many(x)})
