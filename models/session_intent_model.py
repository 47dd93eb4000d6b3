"""The served session intent model: P(a live session ends in a purchase), as an MLflow pyfunc.

``SessionIntentModel`` is what the registry stores for ``mercato_session_intent``: an encoder
fitted at training (signed log of the skewed counts, seconds and page values, standardised;
one-hot of the categorical context, unseen values ignored), a scorer (a logistic regression's
coefficients, or a ``HistGradientBoostingClassifier``'s trees, as arrays:
``models.boosted_trees``) and a Platt calibration of the scorer's log-odds. One session costs
tens of microseconds to encode and score, so ``/session_intent`` answers within a page request.

This module imports MLflow at top level: import it only where a model is trained or loaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

#: Behaviour so far: running counts, seconds and means of the pages seen.
NUMERIC = (
    "administrative_pages",
    "administrative_seconds",
    "informational_pages",
    "informational_seconds",
    "product_pages",
    "product_seconds",
    "bounce_rate",
    "exit_rate",
    "page_value",
    "special_day",
    "is_weekend",
)
#: Skewed ones, read through log1p.
LOG_NUMERIC = frozenset(NUMERIC[:6] + ("page_value",))
#: Context, one-hot encoded (codes are categories, not quantities).
CATEGORICAL = (
    "month",
    "visitor_type",
    "operating_system",
    "browser",
    "region",
    "traffic_type",
)
FEATURES = NUMERIC + CATEGORICAL


def category_text(value: Any) -> str:
    """A categorical value as the encoder compares it: ``2``, ``2.0`` and ``"2"`` are one code."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


class SessionEncoder:
    """Session features -> the design matrix: signed-log numerics standardised, then one-hots."""

    def __init__(
        self, mean: np.ndarray, scale: np.ndarray, categories: Mapping[str, Sequence[str]]
    ) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.categories = {c: list(categories[c]) for c in CATEGORICAL}
        self._log = np.array([n in LOG_NUMERIC for n in NUMERIC])
        self._slot: dict[tuple[str, str], int] = {}
        offset = len(NUMERIC)
        for column in CATEGORICAL:
            for value in self.categories[column]:
                self._slot[(column, value)] = offset
                offset += 1
        self.width = offset

    @classmethod
    def fit(cls, frame: pd.DataFrame, min_count: int = 10) -> SessionEncoder:
        """Scaler and categories from the training rows (values seen fewer than ``min_count``
        times get no column of their own: they score like an unseen value)."""
        x = _signed_log(frame.reindex(columns=list(NUMERIC)).astype(float).fillna(0.0).to_numpy())
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale == 0] = 1.0
        categories = {}
        for column in CATEGORICAL:
            counts = frame[column].map(category_text).value_counts()
            categories[column] = sorted(str(v) for v in counts[counts >= min_count].index)
        return cls(mean, scale, categories)

    def column_names(self) -> list[str]:
        return list(NUMERIC) + [f"{c}={v}" for c in CATEGORICAL for v in self.categories[c]]

    def encode_frame(self, frame: pd.DataFrame) -> np.ndarray:
        x = np.zeros((len(frame), self.width))
        numbers = frame.reindex(columns=list(NUMERIC)).astype(float).fillna(0.0).to_numpy()
        x[:, : len(NUMERIC)] = (_signed_log(numbers) - self.mean) / self.scale
        rows = np.arange(len(frame))
        for column in CATEGORICAL:
            slots = np.array(
                [self._slot.get((column, category_text(v)), -1) for v in frame[column]], dtype=int
            )
            known = slots >= 0
            x[rows[known], slots[known]] = 1.0
        return x

    def encode_rows(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Plain mappings (a request's sessions) -> the matrix, without building a DataFrame."""
        x = np.zeros((len(rows), self.width))
        for i, row in enumerate(rows):
            x[i, : len(NUMERIC)] = [float(row.get(n) or 0.0) for n in NUMERIC]
            for column in CATEGORICAL:
                slot = self._slot.get((column, category_text(row.get(column))), -1)
                if slot >= 0:
                    x[i, slot] = 1.0
        numbers = x[:, : len(NUMERIC)]
        x[:, : len(NUMERIC)] = (_signed_log(numbers, self._log) - self.mean) / self.scale
        return x


def _signed_log(x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    if mask is None:
        mask = np.array([n in LOG_NUMERIC for n in NUMERIC])
    x = np.array(x, dtype=np.float64)
    x[:, mask] = np.sign(x[:, mask]) * np.log1p(np.abs(x[:, mask]))
    return x


class SessionIntentModel(PythonModel):
    """Calibrated purchase probability of a session from its behaviour so far.

    ``kind`` is ``"logistic"`` (``coef``/``intercept`` arrays) or ``"gradient_boosting"``
    (``trees``, a ``models.boosted_trees.BoostedTrees``); either way the probability
    is ``sigmoid(a * log_odds + b)`` with the Platt ``(a, b)`` fitted on out-of-fold scores.
    """

    feature_names = list(FEATURES)

    def __init__(
        self,
        encoder: SessionEncoder,
        kind: str,
        platt: tuple[float, float],
        coef: np.ndarray | None = None,
        intercept: float = 0.0,
        trees: Any = None,
    ) -> None:
        if kind not in ("logistic", "gradient_boosting"):
            raise ValueError(f"unknown scorer kind {kind!r}")
        self.encoder = encoder
        self.kind = kind
        self.platt = (float(platt[0]), float(platt[1]))
        self.coef = None if coef is None else np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)
        self.trees = trees

    def log_odds(self, x: np.ndarray) -> np.ndarray:
        """The scorer's uncalibrated log-odds of an encoded matrix."""
        if self.kind == "logistic":
            return x @ self.coef + self.intercept
        return self.trees.decision_function(x)

    def _calibrated(self, x: np.ndarray) -> np.ndarray:
        a, b = self.platt
        return 1.0 / (1.0 + np.exp(-(a * self.log_odds(x) + b)))

    def predict_proba(self, features: Mapping[str, Any]) -> float:
        """Purchase probability of one session; missing numbers count as 0."""
        return float(self._calibrated(self.encoder.encode_rows([features]))[0])

    def predict_proba_rows(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Purchase probability per session given as mappings (a batch request)."""
        if not rows:
            return np.empty(0)
        return self._calibrated(self.encoder.encode_rows(rows))

    def predict_proba_many(self, frame: pd.DataFrame) -> np.ndarray:
        """Purchase probability per row of a frame with the :data:`FEATURES` columns."""
        return self._calibrated(self.encoder.encode_frame(frame))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None):
        return pd.DataFrame({"probability": self.predict_proba_many(model_input)})
