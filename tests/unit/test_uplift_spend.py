"""Spend uplift: the learners find who spends more because of a send, not who spends anyway."""

from __future__ import annotations

import numpy as np
import pytest

from models.uplift_spend import (
    SPEND_ESTIMATORS,
    SPEND_LEARNER_CLASSES,
    SPEND_LEARNERS,
    spend_metrics,
)


def test_incremental_spend_of_the_top_half_is_counted_by_hand() -> None:
    """Top half = rows A (treated, 10) and B (control, 0): treated mean 10 minus control
    mean 0, times the 2 rows = 20. All four rows: (10 + 0) / 2 - (0 + 5) / 2 = 2.5, times 4."""
    spend = np.array([10.0, 0.0, 0.0, 5.0])
    treated = np.array([True, False, True, False])
    score = np.array([0.9, 0.8, 0.2, 0.1])
    assert spend_metrics(spend, treated, score, top=0.5)["incremental_spend_top50"] == 20.0
    assert spend_metrics(spend, treated, score, top=1.0)["incremental_spend_top100"] == 10.0


def shop(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Loyal customers (x1 > 0) spend whether mailed or not; the mail moves only the others
    with x0 > 0, so ranking by spend when mailed picks the loyal ones, who gain nothing."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    treated = rng.random(n) < 0.5
    anyway = (x[:, 1] > 0) & (rng.random(n) < 0.4)
    moved = treated & (x[:, 0] > 0) & (x[:, 1] <= 0) & (rng.random(n) < 0.3)
    spend = np.where(anyway, 60.0 + 20 * rng.random(n), 0.0) + np.where(moved, 40.0, 0.0)
    return x, treated, spend


@pytest.mark.parametrize("learner", SPEND_LEARNERS)
@pytest.mark.parametrize("estimator", SPEND_ESTIMATORS)
def test_every_spend_learner_ranks_the_moved_customers_above_response_targeting(
    learner: str, estimator: str
) -> None:
    x, t, y = shop(12_000, seed=1)
    xt, tt, yt = shop(8_000, seed=2)
    model = SPEND_LEARNER_CLASSES[learner](estimator, 0).fit(x, t, y)
    ours = spend_metrics(yt, tt, model.predict(xt))
    response = SPEND_LEARNER_CLASSES["response"](estimator, 0).fit(x, t, y)
    theirs = spend_metrics(yt, tt, response.predict(xt))
    rng = np.random.default_rng(3)
    chance = spend_metrics(yt, tt, rng.random(len(yt)))
    assert ours["incremental_spend_top30"] > 2 * max(theirs["incremental_spend_top30"], 1000.0)
    assert ours["qini_coefficient"] > theirs["qini_coefficient"] + 0.05
    assert ours["incremental_spend_top30"] > 1.5 * chance["incremental_spend_top30"]


def test_an_unknown_estimator_is_named() -> None:
    x, t, y = shop(200, seed=1)
    with pytest.raises(ValueError, match="unknown estimator 'forest'"):
        SPEND_LEARNER_CLASSES["two_model"]("forest", 0).fit(x, t, y)
