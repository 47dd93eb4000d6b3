"""A fitted ``HistGradientBoostingClassifier`` as plain NumPy arrays, for per-request scoring.

scikit-learn's own ``decision_function`` starts an OpenMP parallel region on every call: on a
busy two-core machine one row took tens of milliseconds. :class:`BoostedTrees` copies the
trees' nodes into flat arrays once and walks every tree at the same time, one level per step,
so one row costs a few tens of microseconds and a batch a few vectorised passes. Only numeric
splits are supported (the families one-hot or hash their categories before boosting).
"""

from __future__ import annotations

from typing import Any

import numpy as np


class BoostedTrees:
    """The raw log-odds of a binary ``HistGradientBoostingClassifier``, from arrays."""

    def __init__(
        self,
        feature: np.ndarray,
        threshold: np.ndarray,
        left: np.ndarray,
        right: np.ndarray,
        is_leaf: np.ndarray,
        missing_left: np.ndarray,
        value: np.ndarray,
        roots: np.ndarray,
        depth: int,
        baseline: float,
    ) -> None:
        self.feature = feature
        self.threshold = threshold
        self.left = left
        self.right = right
        self.is_leaf = is_leaf
        self.missing_left = missing_left
        self.value = value
        self.roots = roots
        self.depth = int(depth)
        self.baseline = float(baseline)

    @classmethod
    def from_sklearn(cls, model: Any) -> BoostedTrees:
        """Copy a fitted binary ``HistGradientBoostingClassifier`` (numeric splits only)."""
        trees = [predictors[0].nodes for predictors in model._predictors]
        if any(t["is_categorical"].any() for t in trees):
            raise ValueError("categorical splits are not supported: encode categories first")
        offsets = np.cumsum([0] + [len(t) for t in trees[:-1]]).astype(np.int64)
        nodes = np.concatenate(trees)
        shift = np.repeat(offsets, [len(t) for t in trees])
        leaf = nodes["is_leaf"].astype(bool)
        # a leaf points at itself, so walking past it changes nothing
        own = np.arange(len(nodes), dtype=np.int64)
        left = np.where(leaf, own, nodes["left"].astype(np.int64) + shift)
        right = np.where(leaf, own, nodes["right"].astype(np.int64) + shift)
        return cls(
            feature=np.where(leaf, 0, nodes["feature_idx"]).astype(np.int64),
            threshold=nodes["num_threshold"].astype(np.float64),
            left=left,
            right=right,
            is_leaf=leaf,
            missing_left=nodes["missing_go_to_left"].astype(bool),
            value=nodes["value"].astype(np.float64),
            roots=offsets,
            depth=int(nodes["depth"].max()),
            baseline=float(np.ravel(model._baseline_prediction)[0]),
        )

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """Raw log-odds per row of ``x`` (the matrix the model was fitted on)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        node = np.broadcast_to(self.roots, (len(x), len(self.roots))).copy()
        rows = np.arange(len(x))[:, None]
        for _ in range(self.depth):
            values = x[rows, self.feature[node]]
            go_left = np.where(
                np.isnan(values), self.missing_left[node], values <= self.threshold[node]
            )
            node = np.where(go_left, self.left[node], self.right[node])
        return self.value[node].sum(axis=1) + self.baseline
