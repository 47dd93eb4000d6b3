"""Logistic scorers with chosen weights on generated features, for the promotion gate's tests.

How much better a challenger is (in expectation) is known: a tiny real gain inside the noise,
a clear gain, and the champion they are compared with.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.pyfunc import PropensityModel

FEATURES = ["f0", "f1", "f2", "f3"]


def holdout(n: int = 1500, seed: int = 1) -> pd.DataFrame:
    """Labels driven by f0 (strongly) and f1 (weakly); f2 and f3 are noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    p = 1.0 / (1.0 + np.exp(-(x[:, 0] + 0.3 * x[:, 1])))
    frame = pd.DataFrame(x, columns=FEATURES)
    frame["label"] = (rng.random(n) < p).astype(int)
    return frame


def scorer(*weights: float) -> PropensityModel:
    """p = sigmoid(weights @ features): a served propensity model with chosen weights."""
    k = len(FEATURES)
    return PropensityModel(FEATURES, [], np.zeros(k), np.ones(k), np.array(weights), 0.0)


#: Champion: the strong feature plus noise. Weak challenger: a little of the weak feature,
#: with noise of its own (a real gain of ~0.007 ROC-AUC, well inside the noise). Strong
#: challenger: both signals, no noise.
CHAMPION = (1.0, 0.0, 0.5, 0.0)
WEAK = (1.0, 0.2, 0.0, 0.5)
STRONG = (1.0, 0.3, 0.0, 0.0)
