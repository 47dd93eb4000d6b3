"""The ``implicit`` library's ALS on the binary purchase matrix, for side-by-side runs.

Shared by ``recsys_compare.py`` (hold-out metrics beside our candidates) and ``recsys_topk.py``
(top-k lists for outside benchmarks). ``implicit`` is a dev dependency: imported when called.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from models.recommendation import _matrix

if TYPE_CHECKING:
    import scipy.sparse as sp


@dataclass(frozen=True)
class FittedALS:
    """An ALS model with the users x items matrix it learned from and its training time."""

    model: Any
    x: sp.csr_matrix
    users: np.ndarray
    items: np.ndarray
    seconds: float

    def recommend(
        self, who: Sequence[str] | None, k: int, exclude_bought: bool = True
    ) -> list[list[tuple[str, float]]]:
        """Top-k (item, score) pairs, best first, for each user of ``who`` (default: all).

        Every user must be in the training data (``KeyError`` otherwise).
        """
        from threadpoolctl import threadpool_limits

        if who is None:
            rows = np.arange(len(self.users))
        else:
            index = {user: n for n, user in enumerate(self.users)}
            rows = np.array([index[str(w)] for w in who], dtype=np.int64)
        with threadpool_limits(1, "blas"):  # implicit asks for single-threaded BLAS
            ids, scores = self.model.recommend(
                rows, self.x[rows], N=k, filter_already_liked_items=exclude_bought
            )
        return [
            [
                (self.items[j], float(s))
                for j, s in zip(ids[n], scores[n], strict=True)
                if j >= 0 and np.isfinite(s)
            ]
            for n in range(len(rows))
        ]


def fit_als(train: pd.DataFrame, seed: int = 42, **params: float) -> FittedALS:
    """Fit ALS (``implicit``'s defaults overridden by ``params``) on the binary train matrix."""
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    x, users, items = _matrix(train)
    with threadpool_limits(1, "blas"):
        start = time.perf_counter()
        model = AlternatingLeastSquares(random_state=seed, **params)
        model.fit(x, show_progress=False)
        seconds = time.perf_counter() - start
    return FittedALS(model, x, users, items, seconds)
