"""Uplift: how much more likely a customer is to convert *because* of a campaign's treatment.

**Data.** Mart ``campaign_exposures``: one row per customer and campaign of every usable
campaign (randomised arms and a control), with the customer's attributes at send time. Each
treated arm of a campaign is one binary problem, that arm against the campaign's control.

**Split.** A stratified hold-out (:data:`HOLDOUT_SHARE`), stratified by campaign, arm and
outcome, so each arm and the control keep their share of the (rare) conversions. The learner
and base estimator are chosen on a second stratified split of the training part only, so the
hold-out stays unseen until the gate.

**Learners** (all on scikit-learn estimators, logistic regression or shallow gradient boosting):

- two-model (T-learner): P(convert | x, treated) - P(convert | x, control);
- class transformation (Jaskowski & Jaroszewicz 2012): z = 1 for treated converters and
  control non-converters; with treatment balanced by weights, uplift = 2 P(z = 1 | x) - 1;
- X-learner (Kuenzel et al. 2019): the T-learner's imputed effects, regressed per arm and
  mixed by the treatment share;

against two baselines on the same hold-out: targeting by the plain response probability
(P(convert | x, treated), what a propensity model would do) and random targeting.

**Metrics.** Qini and uplift curves (as in scikit-uplift: the Qini curve is the incremental
conversions among the top-ranked customers, ``Y_t - Y_c * N_t / N_c``; the uplift curve is
``(Y_t / N_t - Y_c / N_c) * (N_t + N_c)``), their areas above random normalised by the perfect
ranking's (``qini_coefficient``, ``auuc``: 0 = random, 1 = perfect), and the incremental
conversions of the top 30 %. Per campaign and arm, then averaged.

**Gate.** Evidence is :func:`qini_evidence`: the mean normalised Qini as a function of per-row
weights. Every hold-out row is one customer, the curves are cumulative sums over a ranking
fixed once, so a bootstrap resample only re-weights them: the paired bootstrap resamples
customers like ``auc_evidence`` does, in O(n) per draw. (A per-row transformed-outcome score
would be resampled for free too, but its mean rewards calibration of the effect's *size*, while
targeting only needs the *ranking*; the Qini is the ranking's own measure.) ``minimum`` is 0.02
(the least ranking skill worth targeting by) and chance 0 (random targeting); the floor is the
response-targeting baseline's Qini, so a model that ranks no better than "who buys anyway" is
not promoted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mercato.settings import Settings
from models.family import Fitted, ModelFamily, Split
from models.gate import Evidence
from models.tracking import single_openmp_thread

if TYPE_CHECKING:
    from models.uplift_model import UpliftModel

MODEL_NAME = "mercato_uplift"
EXPERIMENT = "mercato_uplift"
PRIMARY_METRIC = "qini_coefficient"
MINIMUM_QINI = 0.02
HOLDOUT_SHARE = 0.3
VALIDATION_SHARE = 0.3
TOP_SHARE = 0.3
LEARNERS = ("two_model", "class_transformation", "x_learner")
ESTIMATORS = ("logistic", "boosting")
#: Fractions of the ranked audience at which the hold-out's realised effect is tabulated (the
#: planner's interval).
PLAN_FRACTIONS = tuple(np.round(np.arange(0.05, 1.0001, 0.05), 2))

ZIP_CODES = ("urban", "suburban", "rural")
CHANNELS = ("phone", "web", "multichannel")
#: What the learners see: the customer's attributes at send time, encoded.
FEATURES = [
    "recency_months",
    "log_history",
    "mens",
    "womens",
    "newbie",
    *(f"zip_{z}" for z in ZIP_CODES),
    *(f"channel_{c}" for c in CHANNELS),
]


# -- data ------------------------------------------------------------------------------------
def build_uplift_data(settings: Settings) -> pd.DataFrame:
    """The rows of mart ``campaign_exposures``, in a fixed order."""
    from warehouse import reader

    return reader.query(
        settings, "select * from main.campaign_exposures order by campaign, customer_id"
    )


def feature_matrix(df: pd.DataFrame) -> np.ndarray:
    """The :data:`FEATURES` of attribute rows (missing attributes count as 0 / unknown)."""
    n = len(df)

    def num(column: str) -> np.ndarray:
        if column not in df.columns:
            return np.zeros(n)
        return pd.to_numeric(df[column], errors="coerce").astype(float).fillna(0.0).to_numpy()

    def text(column: str) -> np.ndarray:
        if column not in df.columns:
            return np.full(n, "", dtype=object)
        return df[column].astype("string").str.lower().fillna("").to_numpy(dtype=object)

    zips, channels = text("zip_code"), text("channel")
    zips = np.where(zips == "surburban", "suburban", zips)
    columns = [
        num("recency_months") if "recency_months" in df.columns else num("recency"),
        np.log1p(np.clip(num("history"), 0, None)),
        num("mens"),
        num("womens"),
        num("newbie"),
        *((zips == z).astype(float) for z in ZIP_CODES),
        *((channels == c).astype(float) for c in CHANNELS),
    ]
    return np.column_stack(columns).astype(np.float64)


def stratified_split(
    df: pd.DataFrame, share: float, seed: int, by: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, hold-out rows): ``share`` of every stratum of ``by`` held out."""
    rng = np.random.default_rng(seed)
    holdout = np.zeros(len(df), dtype=bool)
    for rows in df.groupby(list(by), sort=True).indices.values():
        rows = rng.permutation(rows)
        holdout[rows[: int(round(share * len(rows)))]] = True
    return np.flatnonzero(~holdout), np.flatnonzero(holdout)


# -- metrics ---------------------------------------------------------------------------------
class UpliftCurves:
    """Qini and uplift curves of one ranking, re-computable for any per-row weights.

    The rows are sorted by score once; a weight vector only changes the cumulative sums, so
    :meth:`qini_coefficient` of a bootstrap resample is a few vectorised passes (no sort).
    Curves are evaluated where the score changes (ties count together, as in scikit-uplift).
    """

    def __init__(self, outcome: np.ndarray, treated: np.ndarray, score: np.ndarray) -> None:
        self.y = np.asarray(outcome, dtype=float)
        self.t = np.asarray(treated).astype(bool)
        s = np.asarray(score, dtype=float)
        self.order = np.argsort(-s, kind="mergesort")
        ordered = s[self.order]
        ends = np.flatnonzero(np.diff(ordered) != 0) if len(s) else np.array([], dtype=int)
        self.ends = np.r_[ends, len(s) - 1] if len(s) else np.array([], dtype=int)
        self._perfect: dict[str, UpliftCurves] = {}

    def parts(self, weights: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
        """Cumulative (n, n_treated, y_treated, n_control, y_control) at each tie-group end."""
        w = np.ones(len(self.y)) if weights is None else np.asarray(weights, dtype=float)
        w, y, t = w[self.order], self.y[self.order], self.t[self.order]
        n_t = np.cumsum(w * t)[self.ends]
        y_t = np.cumsum(w * y * t)[self.ends]
        n_c = np.cumsum(w * ~t)[self.ends]
        y_c = np.cumsum(w * y * ~t)[self.ends]
        return n_t + n_c, n_t, y_t, n_c, y_c

    def qini(self, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(x, Qini) starting at (0, 0): incremental conversions among the top x rows."""
        n, n_t, y_t, n_c, y_c = self.parts(weights)
        ratio = np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c != 0)
        return np.r_[0.0, n], np.r_[0.0, y_t - y_c * ratio]

    def uplift(self, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(x, uplift curve) starting at (0, 0): the top rows' rate difference times x."""
        n, n_t, y_t, n_c, y_c = self.parts(weights)
        rate_t = np.divide(y_t, n_t, out=np.zeros_like(y_t), where=n_t != 0)
        rate_c = np.divide(y_c, n_c, out=np.zeros_like(y_c), where=n_c != 0)
        return np.r_[0.0, n], np.r_[0.0, (rate_t - rate_c) * n]

    def _perfect_curves(self, kind: str, weights: np.ndarray | None) -> UpliftCurves:
        y, t = self.y, self.t.astype(float)
        if kind == "qini":
            score = y * t - y * (1 - t)
        else:
            w = np.ones(len(y)) if weights is None else weights
            control_responders = float((w * y * (1 - t)).sum())
            treated_non_responders = float((w * (1 - y) * t).sum())
            summand = y if control_responders > treated_non_responders else t
            score = 2 * (y == t) + summand
        return UpliftCurves(y, t, score)

    def _normalised(self, kind: str, weights: np.ndarray | None) -> float:
        w = np.ones(len(self.y)) if weights is None else np.asarray(weights, dtype=float)
        if not (w[self.t].sum() > 0 and w[~self.t].sum() > 0):
            # no treated or no control row weighs in (e.g. a customer group of one arm only):
            # there is no effect to rank by, whatever the curve's shape
            return float("nan")
        curve = self.qini if kind == "qini" else self.uplift
        x, v = curve(weights)
        if len(x) < 2 or x[-1] <= 0:
            return float("nan")
        perfect = self._perfect_curves(kind, weights)
        px, pv = perfect.qini(weights) if kind == "qini" else perfect.uplift(weights)
        baseline = 0.5 * px[-1] * pv[-1]
        best = np.trapezoid(pv, px) - baseline
        if best == 0:
            return float("nan")
        return float((np.trapezoid(v, x) - baseline) / best)

    def qini_coefficient(self, weights: np.ndarray | None = None) -> float:
        """Area between the Qini curve and random, over the perfect ranking's (as sklift)."""
        return self._normalised("qini", weights)

    def auuc(self, weights: np.ndarray | None = None) -> float:
        """Area between the uplift curve and random, over the perfect ranking's (as sklift)."""
        return self._normalised("uplift", weights)

    def incremental_at(self, share: float, weights: np.ndarray | None = None) -> float:
        """Incremental conversions if the top ``share`` of rows were treated: their treated
        rate minus their control rate, times their number (whole tie groups, nearest cut)."""
        x, v = self.uplift(weights)
        target = share * x[-1]
        return float(v[int(np.argmin(np.abs(x - target)))])


def uplift_metrics(
    outcome: np.ndarray, treated: np.ndarray, score: np.ndarray, top: float = TOP_SHARE
) -> dict[str, float]:
    """Qini coefficient, AUUC and incremental conversions in the top ``top`` of one ranking."""
    curves = UpliftCurves(outcome, treated, score)
    return {
        "qini_coefficient": curves.qini_coefficient(),
        "auuc": curves.auuc(),
        f"incremental_top{int(round(top * 100))}": curves.incremental_at(top),
        "n": float(len(curves.y)),
    }


@dataclasses.dataclass(frozen=True)
class Group:
    """One binary problem of the hold-out: a campaign's treated arm against its control."""

    campaign: str
    treatment: str
    rows: np.ndarray  # positions in the hold-out frame (the arm's rows and the control's)
    treated: np.ndarray  # per position: in the arm (True) or in the control (False)


def groups_of(holdout: pd.DataFrame) -> list[Group]:
    """The (campaign, treated arm) problems of a frame of ``campaign_exposures`` rows."""
    out = []
    for campaign, part in holdout.groupby("campaign", sort=True):
        control = part.index[part["is_control"].astype(bool)].to_numpy()
        for treatment in sorted(part.loc[~part["is_control"].astype(bool), "treatment"].unique()):
            arm = part.index[(part["treatment"] == treatment) & ~part["is_control"]].to_numpy()
            rows = np.r_[arm, control]
            treated = np.r_[np.ones(len(arm), bool), np.zeros(len(control), bool)]
            out.append(Group(str(campaign), str(treatment), rows, treated))
    return out


def qini_evidence(
    metrics: Mapping[str, float],
    holdout: pd.DataFrame,
    scores: Mapping[tuple[str, str], np.ndarray],
    outcome: str = "converted",
) -> Evidence:
    """Evidence for the mean normalised Qini over the hold-out's (campaign, arm) problems.

    ``scores[(campaign, treatment)]`` are the predicted uplifts of that group's rows (in the
    order of :func:`groups_of`). Units are the hold-out's rows (customers): a control customer
    weighs in every arm of their campaign with the same weight.
    """
    frame = holdout.reset_index(drop=True)
    y = frame[outcome].astype(float).to_numpy()
    parts = []
    for g in groups_of(frame):
        curves = UpliftCurves(y[g.rows], g.treated, scores[(g.campaign, g.treatment)])
        parts.append((g.rows, curves))

    def statistic(weights: np.ndarray) -> float:
        values = [curves.qini_coefficient(weights[rows]) for rows, curves in parts]
        values = [v for v in values if np.isfinite(v)]
        return float(np.mean(values)) if values else float("nan")

    return Evidence(dict(metrics), len(frame), statistic)


# -- learners --------------------------------------------------------------------------------
def make_classifier(kind: str, seed: int) -> Any:
    """A probability classifier: scaled logistic regression, or shallow gradient boosting."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    if kind == "boosting":
        return HistGradientBoostingClassifier(
            max_iter=150,
            learning_rate=0.05,
            max_depth=3,
            min_samples_leaf=100,
            l2_regularization=1.0,
            random_state=seed,
        )
    raise ValueError(f"unknown estimator {kind!r}; choose one of {', '.join(ESTIMATORS)}")


def make_regressor(kind: str, seed: int) -> Any:
    """The regressor the X-learner's second stage uses, of the same kind."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "logistic":
        return make_pipeline(StandardScaler(), Ridge(alpha=1.0))
    return HistGradientBoostingRegressor(
        max_iter=150,
        learning_rate=0.05,
        max_depth=3,
        min_samples_leaf=100,
        l2_regularization=1.0,
        random_state=seed,
    )


def _proba(model: Any, x: np.ndarray) -> np.ndarray:
    if model is None:
        return np.zeros(len(x))
    if isinstance(model, float):
        return np.full(len(x), model)
    with single_openmp_thread():
        return model.predict_proba(x)[:, 1]


def _fit_classifier(kind: str, seed: int, x: np.ndarray, y: np.ndarray, w=None) -> Any:
    """A fitted classifier, or the constant rate when ``y`` has one class only."""
    if len(np.unique(y)) < 2:
        return float(y.mean()) if len(y) else 0.0
    model = make_classifier(kind, seed)
    with single_openmp_thread():
        if w is None:
            return model.fit(x, y)
        step = model.steps[-1][0] if hasattr(model, "steps") else None
        return model.fit(x, y, **({f"{step}__sample_weight": w} if step else {"sample_weight": w}))


class Learner:
    """An uplift learner for one treated arm against the control: ``fit`` then ``predict``."""

    name: str = ""

    def __init__(self, estimator: str = "logistic", seed: int = 0) -> None:
        self.estimator = estimator
        self.seed = seed

    def fit(self, x: np.ndarray, treated: np.ndarray, y: np.ndarray) -> Learner:
        raise NotImplementedError

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted uplift (or, for the baselines, the ranking score) of each row."""
        raise NotImplementedError


class TwoModel(Learner):
    """T-learner: one classifier per arm; uplift = P(y | x, treated) - P(y | x, control)."""

    name = "two_model"

    def fit(self, x: np.ndarray, treated: np.ndarray, y: np.ndarray) -> TwoModel:
        t = treated.astype(bool)
        self.treated_model = _fit_classifier(self.estimator, self.seed, x[t], y[t])
        self.control_model = _fit_classifier(self.estimator, self.seed, x[~t], y[~t])
        return self

    def response(self, x: np.ndarray) -> np.ndarray:
        return _proba(self.treated_model, x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return _proba(self.treated_model, x) - _proba(self.control_model, x)


class ClassTransformation(Learner):
    """Class transformation: z = y*t + (1-y)*(1-t) on treatment-balanced weights;
    uplift = 2 P(z = 1 | x) - 1 (exact when both arms weigh the same)."""

    name = "class_transformation"

    def fit(self, x: np.ndarray, treated: np.ndarray, y: np.ndarray) -> ClassTransformation:
        t = treated.astype(bool)
        z = np.where(t, y, 1 - y).astype(int)
        share = t.mean()
        w = np.where(t, 0.5 / share, 0.5 / (1 - share))
        self.model = _fit_classifier(self.estimator, self.seed, x, z, w)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return 2.0 * _proba(self.model, x) - 1.0


class XLearner(Learner):
    """X-learner: the T-learner's imputed effects regressed per arm, mixed by the treated share
    (the propensity is constant in a randomised campaign)."""

    name = "x_learner"

    def fit(self, x: np.ndarray, treated: np.ndarray, y: np.ndarray) -> XLearner:
        t = treated.astype(bool)
        first = TwoModel(self.estimator, self.seed).fit(x, t, y)
        imputed_t = y[t] - _proba(first.control_model, x[t])
        imputed_c = _proba(first.treated_model, x[~t]) - y[~t]
        self.share = float(t.mean())
        with single_openmp_thread():
            self.tau_t = make_regressor(self.estimator, self.seed).fit(x[t], imputed_t)
            self.tau_c = make_regressor(self.estimator, self.seed).fit(x[~t], imputed_c)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        with single_openmp_thread():
            return self.share * self.tau_c.predict(x) + (1 - self.share) * self.tau_t.predict(x)


class ResponseTargeting(Learner):
    """Baseline: rank by P(convert | x, treated), the plain response model (no control used)."""

    name = "response"

    def fit(self, x: np.ndarray, treated: np.ndarray, y: np.ndarray) -> ResponseTargeting:
        t = treated.astype(bool)
        self.model = _fit_classifier(self.estimator, self.seed, x[t], y[t])
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return _proba(self.model, x)


class RandomTargeting(Learner):
    """Baseline: a random order (seeded by the rows' content, so it is reproducible)."""

    name = "random"

    def fit(self, x: np.ndarray, treated: np.ndarray, y: np.ndarray) -> RandomTargeting:
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.random.default_rng(self.seed + len(x)).random(len(x))


LEARNER_CLASSES: dict[str, type[Learner]] = {
    c.name: c for c in (TwoModel, ClassTransformation, XLearner, ResponseTargeting, RandomTargeting)
}


# -- fitting per campaign and arm ------------------------------------------------------------
def arm_rows(df: pd.DataFrame, campaign: str, treatment: str) -> pd.DataFrame:
    """The rows of one binary problem: the arm's and the campaign's control's."""
    part = df[df["campaign"] == campaign]
    return part[part["is_control"].astype(bool) | (part["treatment"] == treatment)]


def arms_of(df: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per campaign: its treated arms (sorted) and its control's name."""
    out = {}
    for campaign, part in df.groupby("campaign", sort=True):
        control = part.loc[part["is_control"].astype(bool), "treatment"]
        out[str(campaign)] = {
            "treatments": sorted(part.loc[~part["is_control"].astype(bool), "treatment"].unique()),
            "control": str(control.iloc[0]) if len(control) else "",
        }
    return out


def fit_learners(
    train: pd.DataFrame,
    learner: str,
    estimator: str,
    seed: int,
    outcome: str = "converted",
) -> dict[tuple[str, str], Learner]:
    """One fitted ``learner`` per (campaign, treated arm) of ``train``."""
    fitted = {}
    for campaign, info in arms_of(train).items():
        for treatment in info["treatments"]:
            rows = arm_rows(train, campaign, treatment)
            cls = LEARNER_CLASSES[learner]
            fitted[(campaign, treatment)] = cls(estimator, seed).fit(
                feature_matrix(rows),
                (~rows["is_control"].astype(bool)).to_numpy(),
                rows[outcome].astype(float).to_numpy(),
            )
    return fitted


def group_scores(
    predict: Callable[[str, str, np.ndarray], np.ndarray], holdout: pd.DataFrame
) -> dict[tuple[str, str], np.ndarray]:
    """``predict(campaign, treatment, x)`` on the rows of every group of the hold-out."""
    frame = holdout.reset_index(drop=True)
    x = feature_matrix(frame)
    return {
        (g.campaign, g.treatment): predict(g.campaign, g.treatment, x[g.rows])
        for g in groups_of(frame)
    }


def score_table(
    scores: Mapping[tuple[str, str], np.ndarray], holdout: pd.DataFrame, outcome: str = "converted"
) -> dict[str, float]:
    """Metrics per group (``campaign.treatment.metric``) and their mean over groups."""
    frame = holdout.reset_index(drop=True)
    y = frame[outcome].astype(float).to_numpy()
    out: dict[str, float] = {}
    per_group = []
    for g in groups_of(frame):
        m = uplift_metrics(y[g.rows], g.treated, scores[(g.campaign, g.treatment)])
        per_group.append(m)
        out.update({f"{g.campaign}.{g.treatment}.{k}": v for k, v in m.items() if k != "n"})
    for key in per_group[0] if per_group else []:
        if key != "n":
            out[key] = float(np.nanmean([m[key] for m in per_group]))
    return out


def choose_configuration(
    train: pd.DataFrame, seed: int, learners: Sequence[str] = LEARNERS
) -> tuple[tuple[str, str], dict[str, float]]:
    """The (learner, estimator) with the best mean Qini on a stratified validation part of
    ``train`` (the hold-out is never looked at)."""
    fit_rows, val_rows = stratified_split(
        train, VALIDATION_SHARE, seed + 1, ("campaign", "treatment", "converted")
    )
    fit_part = train.iloc[fit_rows].reset_index(drop=True)
    val_part = train.iloc[val_rows].reset_index(drop=True)
    results = {}
    for learner in learners:
        for estimator in ESTIMATORS:
            models = fit_learners(fit_part, learner, estimator, seed)
            scores = group_scores(lambda c, t, x, m=models: m[(c, t)].predict(x), val_part)
            results[f"{learner}+{estimator}"] = score_table(scores, val_part)["qini_coefficient"]
    best = max(results, key=lambda k: (np.nan_to_num(results[k], nan=-np.inf), k))
    learner, estimator = best.split("+")
    return (learner, estimator), results


def plan_calibration(
    model: UpliftModel, holdout: pd.DataFrame, seed: int, samples: int = 200
) -> dict[str, dict[str, list[float]]]:
    """Per campaign: at each of :data:`PLAN_FRACTIONS`, the ratio of the hold-out's realised
    incremental conversions to the predicted ones among the top-ranked share of each arm, with
    a 90 % bootstrap interval over customers. The planner scales its prediction by it."""
    frame = holdout.reset_index(drop=True)
    x = feature_matrix(frame)
    y = frame["converted"].astype(float).to_numpy()
    rng = np.random.default_rng(seed)
    draws = [np.ones(len(frame))] + [
        np.bincount(rng.integers(0, len(frame), len(frame)), minlength=len(frame)).astype(float)
        for _ in range(samples)
    ]
    out: dict[str, dict[str, list[float]]] = {}
    by_campaign: dict[str, list[tuple[Group, np.ndarray]]] = {}
    for g in groups_of(frame):
        predicted = model.predict_uplift(g.campaign, g.treatment, x[g.rows])
        by_campaign.setdefault(g.campaign, []).append((g, predicted))
    for campaign, parts in by_campaign.items():
        ratios = np.zeros((len(draws), len(PLAN_FRACTIONS)))
        for d, w in enumerate(draws):
            for j, share in enumerate(PLAN_FRACTIONS):
                realised = expected = 0.0
                for g, predicted in parts:
                    curves = UpliftCurves(y[g.rows], g.treated, predicted)
                    wg = w[g.rows]
                    realised += curves.incremental_at(share, wg)
                    top = curves.order[: max(1, int(round(share * len(g.rows))))]
                    expected += float((wg[top] * predicted[top]).sum())
                ratios[d, j] = realised / expected if expected > 0 else np.nan
        point = ratios[0]
        low, high = np.nanquantile(ratios[1:], [0.05, 0.95], axis=0)
        out[campaign] = {
            "fractions": [float(f) for f in PLAN_FRACTIONS],
            "ratio": [float(v) for v in point],
            "low": [float(v) for v in low],
            "high": [float(v) for v in high],
        }
    return out


#: Attributes at send time that define customer groups for the gate, when delivered.
GROUP_ATTRIBUTES = ("zip_code", "newbie", "channel")


def attribute_groups(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per row: zip-code type, new or existing customer, purchase channel (``unknown`` where
    missing); only the attributes the frame has a value for."""
    out: dict[str, np.ndarray] = {}
    for column in GROUP_ATTRIBUTES:
        if column not in frame.columns or frame[column].isna().all():
            continue
        if column == "newbie":
            flag = pd.to_numeric(frame[column], errors="coerce")
            labels = np.where(flag == 1, "new", np.where(flag == 0, "existing", "unknown"))
        else:
            text = frame[column].astype("string").str.strip().str.lower()
            labels = text.replace("surburban", "suburban").fillna("unknown").to_numpy(dtype=object)
        out[column] = np.asarray(labels, dtype=object)
    return out


def uplift_groups(settings: Settings, holdout: pd.DataFrame) -> dict[str, np.ndarray]:
    """Groups of each hold-out row, in the order of :func:`qini_evidence`'s units. Country and
    tenure come from ``dim_customers`` at ``sent_at`` (customers the shop does not know are
    ``other`` / ``no_order``, so a file without the shop's ids, such as Hillstrom's, has one
    label there); a dimension with a single label has no gap and is left out."""
    from models.fairness import customer_groups

    frame = holdout.reset_index(drop=True)
    groups = customer_groups(settings, frame["customer_id"], frame["sent_at"])
    groups.update(attribute_groups(frame))
    return {dim: labels for dim, labels in groups.items() if len(set(labels.tolist())) > 1}


def latest_attributes(df: pd.DataFrame) -> pd.DataFrame:
    """Each customer's latest attributes over all campaigns (the planner's candidates)."""
    order = df.assign(_sent=pd.to_datetime(df["sent_at"])).sort_values(
        ["customer_id", "_sent", "campaign"], na_position="first"
    )
    return order.drop_duplicates("customer_id", keep="last").drop(columns="_sent")


class UpliftFamily(ModelFamily):
    """Conversion uplift per campaign arm: the best of three learners, gated on the Qini."""

    name = "uplift"
    registered_model = MODEL_NAME
    experiment = EXPERIMENT
    reads = "mart campaign_exposures (randomised campaigns with a control arm)"
    metric = PRIMARY_METRIC
    minimum = MINIMUM_QINI
    chance = 0.0
    api = "serving.apis.uplift"
    summary = "extra conversion probability a campaign's treatment causes, per customer"

    def has_data(self, settings: Settings) -> bool:
        from warehouse import reader

        rows = reader.query_if_built(settings, "select count(*) as n from main.campaign_exposures")
        if rows is None:
            return False
        return bool(int(rows["n"].iloc[0]))

    def load_data(self, settings: Settings) -> pd.DataFrame:
        return build_uplift_data(settings)

    def split(self, data: pd.DataFrame, settings: Settings) -> Split:
        df = data.reset_index(drop=True)
        df["is_control"] = df["is_control"].astype(bool)
        train_rows, holdout_rows = stratified_split(
            df, HOLDOUT_SHARE, settings.seed, ("campaign", "treatment", "converted")
        )
        train = df.iloc[train_rows].reset_index(drop=True)
        holdout = df.iloc[holdout_rows].reset_index(drop=True)
        if train["converted"].sum() == 0:
            raise ValueError("no conversion in the campaigns' training part: nothing to learn")
        info = {
            "holdout_share": HOLDOUT_SHARE,
            "stratified_by": "campaign,treatment,converted",
            "n_train": len(train),
            "n_test": len(holdout),
            "campaigns": ",".join(sorted(df["campaign"].unique())),
        }
        return Split(train, holdout, df, info)

    def fit(self, split: Split, settings: Settings) -> Fitted:
        """Choose learner and estimator on a validation part of train, fit the chosen one on
        all of train, and score every learner and both baselines on the hold-out."""
        from models.uplift_model import UpliftModel

        train, test, seed = split.train, split.holdout, settings.seed
        (learner, estimator), validation = choose_configuration(train, seed)
        contenders: dict[str, dict[tuple[str, str], Learner]] = {}
        for name in LEARNERS:
            contenders[name] = fit_learners(train, name, estimator, seed)
        contenders["response"] = fit_learners(train, "response", estimator, seed)
        contenders["random"] = fit_learners(train, "random", estimator, seed)
        comparison = {}
        curves = {}
        for name, models in contenders.items():
            scores = group_scores(lambda c, t, x, m=models: m[(c, t)].predict(x), test)
            comparison[name] = score_table(scores, test)
            curves[name] = scores
        model = UpliftModel(
            learners=contenders[learner],
            arms=arms_of(split.data),
            customers=latest_attributes(split.data),
            algorithm=f"{learner}+{estimator}",
        )
        model.calibration = plan_calibration(model, test, seed)
        model.precompute()
        example = test.head(3)[["campaign", "treatment", *ATTRIBUTE_COLUMNS]].reset_index(drop=True)
        return Fitted(
            model=model,
            input_example=example,
            params={
                "learner": learner,
                "estimator": estimator,
                "features": ",".join(FEATURES),
                "outcome": "converted",
                "seed": seed,
            },
            floor=comparison["response"].get("qini_coefficient"),
            tags={"learner": learner, "estimator": estimator},
            details={
                "chosen": f"{learner}+{estimator}",
                "validation_qini": validation,
                "comparison": comparison,
            },
            run_name=f"uplift-{learner}-{estimator}",
            state={"scores": curves},
        )

    def evaluate(self, model: Any, split: Split, fitted: Fitted) -> Evidence:
        scores = group_scores(model.predict_uplift, split.holdout)
        metrics = score_table(scores, split.holdout)
        return qini_evidence(metrics, split.holdout, scores)

    def groups(self, split: Split, settings: Settings) -> dict[str, Any]:
        """Per hold-out row (the evidence's unit): the customer's country group and tenure cohort
        at send time where the customers are the shop's own, and the attributes at send time
        that define natural groups (:data:`GROUP_ATTRIBUTES`) where the source carries them."""
        return uplift_groups(settings, split.holdout)

    def log(self, fitted: Fitted, split: Split) -> None:
        import mlflow

        from models import tracking

        for name, table in fitted.details["comparison"].items():
            mlflow.log_metrics({f"{name}.{k}": v for k, v in table.items() if np.isfinite(v)})
        mlflow.log_metrics(
            {
                f"validation.{k.replace('+', '.')}": v
                for k, v in fitted.details["validation_qini"].items()
            }
        )
        mlflow.log_dict(
            {k: fitted.details[k] for k in ("chosen", "validation_qini", "comparison")},
            "evaluation.json",
        )
        mlflow.log_dict(fitted.model.calibration, "plan_calibration.json")
        tracking.log_figure(curves_figure(fitted.state["scores"], split.holdout), "qini_uplift.png")


#: The attribute columns (as in the mart) the served model's pyfunc ``predict`` reads.
ATTRIBUTE_COLUMNS = [
    "recency_months",
    "history",
    "mens",
    "womens",
    "newbie",
    "zip_code",
    "channel",
]


def curves_figure(
    scores: Mapping[str, Mapping[tuple[str, str], np.ndarray]], holdout: pd.DataFrame
):
    """Qini (top) and uplift (bottom) curves of every contender, one column per arm."""
    from models.tracking import figure

    frame = holdout.reset_index(drop=True)
    y = frame["converted"].astype(float).to_numpy()
    groups = groups_of(frame)
    fig, _ = figure(5.0 * max(1, len(groups)), 8)
    fig.clf()
    for j, g in enumerate(groups):
        top = fig.add_subplot(2, len(groups), j + 1)
        bottom = fig.add_subplot(2, len(groups), len(groups) + j + 1)
        for name, by_group in scores.items():
            curves = UpliftCurves(y[g.rows], g.treated, by_group[(g.campaign, g.treatment)])
            for ax, (x, v) in ((top, curves.qini()), (bottom, curves.uplift())):
                ax.plot(x / max(x[-1], 1), v, label=name)
        top.set(title=f"Qini: {g.campaign} / {g.treatment}", ylabel="incremental conversions")
        bottom.set(title="Uplift curve", xlabel="share targeted", ylabel="incremental conversions")
        top.legend(fontsize=8)
    fig.tight_layout()
    return fig


FAMILY = UpliftFamily()
