"""Uplift on spend: the incremental spend a campaign causes, learnt from a randomised test.

Conversion uplift (``models.uplift``) says who buys *because of* a send; spend uplift says how
much more they spend because of it, which is what a budget is weighed against. Spend after a
send is zero for almost everyone (0.9% of the MineThatData customers convert) and long-tailed
for the rest, so three learners are compared on scikit-learn regressors:

- :class:`SpendTwoModel` (T-learner): one regressor per arm, uplift = E[spend | x, treated] -
  E[spend | x, control];
- :class:`SpendXLearner`: the T-learner's imputed effects regressed per arm and mixed by the
  treated share (the propensity is constant in a randomised test);
- :class:`SpendTwoPart`: per arm, P(convert | x) x E[spend | x, converted], the classic hurdle
  model for zero-inflated spend; uplift is the difference of the two arms' products.

Baselines: :class:`SpendResponse` (rank by predicted spend when treated, no control used) and
random order. Rankings are scored with the Qini curve on spend (``models.uplift.UpliftCurves``
takes any outcome: the curve counts incremental spend instead of conversions) and the
incremental spend in the top 30%. AUUC is not reported for spend: its perfect-ranking
normalisation is defined for a 0/1 outcome only. ``bench/uplift_eval.py --outcome-col spend``
runs the comparison on any randomised file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.uplift import (
    Learner,
    _fit_classifier,
    _proba,
    make_regressor,
    single_openmp_thread,
)

#: The spend learners, in the order the bench prints them.
SPEND_LEARNERS = ("two_model", "x_learner", "two_part")
#: Regressor kinds: "linear" is scaled ridge regression, "boosting" shallow gradient boosting.
SPEND_ESTIMATORS = ("linear", "boosting")


def _regressor(kind: str, seed: int) -> Any:
    if kind not in SPEND_ESTIMATORS:
        raise ValueError(f"unknown estimator {kind!r}; choose one of {', '.join(SPEND_ESTIMATORS)}")
    return make_regressor("logistic" if kind == "linear" else "boosting", seed)


def _fit_regressor(kind: str, seed: int, x: np.ndarray, y: np.ndarray) -> Any:
    """A fitted regressor, or the mean when there are too few rows to learn from."""
    if len(y) < 2 or np.ptp(y) == 0:
        return float(y.mean()) if len(y) else 0.0
    with single_openmp_thread():
        return _regressor(kind, seed).fit(x, y)


def _predict(model: Any, x: np.ndarray) -> np.ndarray:
    if isinstance(model, float):
        return np.full(len(x), model)
    with single_openmp_thread():
        return np.asarray(model.predict(x), dtype=float)


class SpendLearner(Learner):
    """A spend-uplift learner for one treated arm against the control: ``fit`` then ``predict``
    (the predicted incremental spend of each row); ``estimator`` is a regressor kind."""

    def __init__(self, estimator: str = "linear", seed: int = 0) -> None:
        super().__init__(estimator, seed)


class SpendTwoModel(SpendLearner):
    """T-learner on spend: a regressor per arm."""

    name = "two_model"

    def fit(self, x: np.ndarray, treated: np.ndarray, spend: np.ndarray) -> SpendTwoModel:
        t = np.asarray(treated, dtype=bool)
        self.treated_model = _fit_regressor(self.estimator, self.seed, x[t], spend[t])
        self.control_model = _fit_regressor(self.estimator, self.seed, x[~t], spend[~t])
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return _predict(self.treated_model, x) - _predict(self.control_model, x)


class SpendXLearner(SpendLearner):
    """X-learner on spend: imputed individual effects regressed per arm, mixed by the treated
    share."""

    name = "x_learner"

    def fit(self, x: np.ndarray, treated: np.ndarray, spend: np.ndarray) -> SpendXLearner:
        t = np.asarray(treated, dtype=bool)
        first = SpendTwoModel(self.estimator, self.seed).fit(x, t, spend)
        imputed_t = spend[t] - _predict(first.control_model, x[t])
        imputed_c = _predict(first.treated_model, x[~t]) - spend[~t]
        self.share = float(t.mean())
        self.tau_t = _fit_regressor(self.estimator, self.seed, x[t], imputed_t)
        self.tau_c = _fit_regressor(self.estimator, self.seed, x[~t], imputed_c)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.share * _predict(self.tau_c, x) + (1 - self.share) * _predict(self.tau_t, x)


class SpendTwoPart(SpendLearner):
    """Hurdle model per arm: P(spend > 0 | x) from a classifier times E[spend | x, spend > 0]
    from a regressor fitted on the spenders only."""

    name = "two_part"

    def _arm(self, x: np.ndarray, spend: np.ndarray) -> tuple[Any, Any]:
        bought = spend > 0
        kind = "logistic" if self.estimator == "linear" else "boosting"
        chance = _fit_classifier(kind, self.seed, x, bought.astype(int))
        amount = _fit_regressor(self.estimator, self.seed, x[bought], spend[bought])
        return chance, amount

    def fit(self, x: np.ndarray, treated: np.ndarray, spend: np.ndarray) -> SpendTwoPart:
        t = np.asarray(treated, dtype=bool)
        self.treated_parts = self._arm(x[t], spend[t])
        self.control_parts = self._arm(x[~t], spend[~t])
        return self

    @staticmethod
    def _expected(parts: tuple[Any, Any], x: np.ndarray) -> np.ndarray:
        chance, amount = parts
        return _proba(chance, x) * np.maximum(_predict(amount, x), 0.0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._expected(self.treated_parts, x) - self._expected(self.control_parts, x)


class SpendResponse(SpendLearner):
    """Baseline: rank by the predicted spend if treated (the plain response model)."""

    name = "response"

    def fit(self, x: np.ndarray, treated: np.ndarray, spend: np.ndarray) -> SpendResponse:
        t = np.asarray(treated, dtype=bool)
        self.model = _fit_regressor(self.estimator, self.seed, x[t], spend[t])
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return _predict(self.model, x)


SPEND_LEARNER_CLASSES: dict[str, type[SpendLearner]] = {
    c.name: c for c in (SpendTwoModel, SpendXLearner, SpendTwoPart, SpendResponse)
}


def spend_metrics(
    spend: np.ndarray, treated: np.ndarray, score: np.ndarray, top: float = 0.3
) -> dict[str, float]:
    """Qini coefficient on spend and the incremental spend if the top ``top`` were treated."""
    from models.uplift import UpliftCurves

    curves = UpliftCurves(spend, treated, score)
    return {
        "qini_coefficient": curves.qini_coefficient(),
        f"incremental_spend_top{int(round(top * 100))}": curves.incremental_at(top),
        "n": float(len(curves.y)),
    }
