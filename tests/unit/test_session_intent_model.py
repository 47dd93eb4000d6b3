"""Session intent pieces that need no fit of the family: trees as arrays are the same function as
scikit-learn's, and the hold-out keeps the purchase rate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from session_data import mart_like


@pytest.fixture(scope="module")
def sessions() -> pd.DataFrame:
    return mart_like(800, seed=3)


def test_boosted_trees_as_arrays_score_exactly_like_scikit_learn() -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from models.boosted_trees import BoostedTrees

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 5))
    y = (x[:, 0] + x[:, 1] * x[:, 2] + rng.normal(size=600) > 0).astype(int)
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0).fit(x, y)
    test = rng.normal(size=(50, 5))
    test[3, 1] = np.nan
    trees = BoostedTrees.from_sklearn(model)
    assert np.allclose(trees.decision_function(test), model.decision_function(test), atol=1e-9)


def test_the_stratified_hold_out_keeps_the_purchase_rate(sessions) -> None:
    from models.session_intent import stratified_split

    train, test = stratified_split(sessions, share=0.25, seed=0)
    assert len(test) == pytest.approx(0.25 * len(sessions), abs=1)
    assert abs(train["label"].mean() - test["label"].mean()) < 0.01
    with pytest.raises(ValueError, match="at least 4 sessions"):
        stratified_split(sessions.assign(label=0))
