"""The served ad response model: P(click) and P(conversion) of an impression, as an MLflow pyfunc.

Both heads are logistic regressions on the impression's categorical context hashed into
``n_features`` columns (the single categories and two crosses, see :func:`tokens`), trained on
all positives and a sample of the negatives; the intercept is corrected for that sample, so
the output is a probability on the full traffic. Hashing is scikit-learn's ``FeatureHasher``
(signed 32-bit MurmurHash3 of the token, seed 0, column = |hash| mod n, no sign flip), redone
here per request with the same hash so one impression costs a few microseconds.

This module imports MLflow at top level: import it only where a model is trained or loaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

#: The impression's context the model reads.
CATEGORICAL = ("campaign", "creative", "placement", "device", "os", "country")
CONTEXT = (*CATEGORICAL, "hour_of_day", "day_of_week", "is_known_customer")
#: Pairs whose combination matters beyond each part (a banner on mobile).
CROSSES = (("placement", "device"), ("creative", "placement"))


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "unknown"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip().lower()


def tokens(row: Mapping[str, Any]) -> list[str]:
    """The hashed tokens of one impression: ``name=value`` per context field, plus crosses."""
    values = {name: _text(row.get(name)) for name in CONTEXT}
    out = [f"{name}={values[name]}" for name in CONTEXT]
    out += [f"{a}x{b}={values[a]}|{values[b]}" for a, b in CROSSES]
    return out


def downsampling_correction(p: np.ndarray, negative_rate: float) -> np.ndarray:
    """Probabilities of a model trained with negatives kept at ``negative_rate``, on the full
    traffic: ``p / (p + (1 - p) / rate)`` (the odds shrink by the rate)."""
    p = np.asarray(p, dtype=np.float64)
    return p / (p + (1.0 - p) / negative_rate)


class HashedLogistic:
    """One head: ``sigmoid(sum of the hashed tokens' weights + intercept)``."""

    def __init__(self, n_features: int, coef: np.ndarray, intercept: float) -> None:
        self.n_features = int(n_features)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)
        self._cache: dict[str, int] = {}

    def column(self, token: str) -> int:
        index = self._cache.get(token)
        if index is None:
            from sklearn.utils import murmurhash3_32

            index = abs(int(murmurhash3_32(token, seed=0))) % self.n_features
            if len(self._cache) < 100_000:
                self._cache[token] = index
        return index

    def log_odds(self, rows: Sequence[Sequence[str]]) -> np.ndarray:
        return np.array(
            [self.coef[[self.column(t) for t in row]].sum() + self.intercept for row in rows]
        )

    def predict(self, rows: Sequence[Sequence[str]]) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.log_odds(rows)))


class AdResponseModel(PythonModel):
    """Click-through and conversion probability of an impression from its context."""

    feature_names = list(CONTEXT)

    def __init__(self, click: HashedLogistic, conversion: HashedLogistic | None) -> None:
        self.click = click
        self.conversion = conversion

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
        """``{"click": p, "conversion": p}`` per impression given as mappings."""
        hashed = [tokens(r) for r in rows]
        out = {"click": self.click.predict(hashed)}
        if self.conversion is not None:
            out["conversion"] = self.conversion.predict(hashed)
        return out

    def predict_proba(self, features: Mapping[str, Any]) -> float:
        """Click probability of one impression."""
        return float(self.click.predict([tokens(features)])[0])

    def predict_proba_many(self, frame: pd.DataFrame) -> np.ndarray:
        """Click probability per row of a frame with the :data:`CONTEXT` columns."""
        return self.predict_rows(frame.reindex(columns=list(CONTEXT)).to_dict("records"))["click"]

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None):
        rows = model_input.reindex(columns=list(CONTEXT)).to_dict("records")
        p = self.predict_rows(rows)
        out = {"click_probability": p["click"]}
        if "conversion" in p:
            out["conversion_probability"] = p["conversion"]
        return pd.DataFrame(out)
