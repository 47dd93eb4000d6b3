"""Purchase propensity: P(customer orders within the horizon after a snapshot).

Training rows are (customer, snapshot) pairs from mart ``propensity_labels`` with point-in-time
features from Feast service ``propensity_v1``. Splits follow time: the last
``settings.holdout_days`` of snapshots are the hold-out, and training only uses snapshots whose
label window closes before the hold-out starts (no label leaks across the cut). ``C`` is chosen
by log loss on time-ordered, equally purged folds.

The model is a logistic regression on signed-log, standardised features with balanced class
weights; the intercept is then shifted by ``log(n_pos / n_neg)`` (prior correction), which undoes
what the weights did to the base rate so the output stays a probability. It is compared in the
same run with a recency-only heuristic (score = -recency; probabilities from isotonic regression
on recency) and with ``HistGradientBoostingClassifier``, overall and per country group.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import CUSTOMER_FEATURES as FEATURES
from mercato.settings import Settings, get_settings
from models.family import Fitted, ModelFamily, Split
from models.gate import Evidence, auc_evidence
from models.tracking import single_openmp_thread

if TYPE_CHECKING:
    from models.pyfunc import PropensityModel

MODEL_NAME = "mercato_propensity"
EXPERIMENT = "mercato_propensity"
FEATURE_SERVICE = "propensity_v1"
LOG_FEATURES = [
    "recency_days",
    "frequency",
    "monetary",
    "tenure_days",
    "avg_basket_value",
    "n_distinct_products",
]
C_GRID = (0.0001, 0.001, 0.01, 0.1, 1.0, 10.0)
PRIMARY_METRIC = "roc_auc"
#: Below this ROC-AUC a model ranks customers barely better than a coin: never served.
MINIMUM_ROC_AUC = 0.55


# -- data ------------------------------------------------------------------------------------
def build_propensity_data(settings: Settings | None = None) -> pd.DataFrame:
    """Labels from mart ``propensity_labels`` joined point-in-time with ``propensity_v1``
    (sampled above ``settings.train_max_rows``: :func:`features.store.labelled_training_set`)."""
    from features import store

    return store.labelled_training_set(
        settings or get_settings(),
        "main.propensity_labels",
        "customer_id, snapshot_at as event_timestamp, label",
        FEATURE_SERVICE,
    )


def _features(df: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    return df.reindex(columns=list(names)).astype(float).fillna(0.0).to_numpy()


def time_split(
    df: pd.DataFrame, holdout_days: int, horizon_days: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, hold-out): hold-out = snapshots in the last ``holdout_days``; train = snapshots
    whose label window ``[t, t + horizon)`` ends before the first hold-out snapshot."""
    ts = pd.to_datetime(df["event_timestamp"])
    last = ts.max()
    start = last - pd.Timedelta(days=holdout_days)
    test = df[ts > start]
    if test.empty:
        test = df[ts == last]
        start = last - pd.Timedelta(microseconds=1)
    train = df[ts + pd.Timedelta(days=horizon_days) <= ts[ts > start].min()]
    if train.empty or train["label"].nunique() < 2:
        raise ValueError("not enough snapshots before the hold-out to train on")
    return train.reset_index(drop=True), test.reset_index(drop=True)


# -- models ----------------------------------------------------------------------------------
def fit_logistic(
    train: pd.DataFrame,
    c: float,
    features: Sequence[str] = FEATURES,
    sample_weight: np.ndarray | None = None,
) -> PropensityModel:
    """Balanced-weight logistic regression with the prior-corrected intercept.

    ``sample_weight`` multiplies the class weights, e.g. reweighing by customer group
    (``models.fairness.reweighing_weights``), which keeps the class totals and so the prior
    correction."""
    from sklearn.linear_model import LogisticRegression

    from models.pyfunc import PropensityModel

    names = [f for f in features if f in train.columns]
    logs = [f for f in LOG_FEATURES if f in names]
    x = _signed_log(_features(train, names), np.array([f in logs for f in names]))
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    y = train["label"].to_numpy().astype(int)
    lr = LogisticRegression(C=c, class_weight="balanced", max_iter=2000)
    lr.fit((x - mean) / scale, y, sample_weight=sample_weight)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    intercept = float(lr.intercept_[0]) + float(np.log(n_pos / n_neg))
    return PropensityModel(names, logs, mean, scale, lr.coef_[0], intercept)


def _signed_log(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    x = x.copy()
    x[:, mask] = np.sign(x[:, mask]) * np.log1p(np.abs(x[:, mask]))
    return x


def time_folds(
    df: pd.DataFrame, horizon_days: int, n_folds: int = 3
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Expanding-window folds over snapshot dates, purged like :func:`time_split`."""
    ts = pd.to_datetime(df["event_timestamp"])
    dates = np.sort(ts.unique())
    folds = []
    edges = np.linspace(len(dates) // 2, len(dates), n_folds + 1).astype(int)
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if hi <= lo:
            continue
        val_dates = dates[lo:hi]
        val = ts.isin(val_dates).to_numpy()
        fit = (ts + pd.Timedelta(days=horizon_days) <= val_dates[0]).to_numpy()
        labels = df["label"].to_numpy()
        if fit.sum() and len(np.unique(labels[fit])) == 2 and len(np.unique(labels[val])) == 2:
            folds.append((np.flatnonzero(fit), np.flatnonzero(val)))
    return folds


def choose_c(
    train: pd.DataFrame, horizon_days: int, grid: Sequence[float] = C_GRID
) -> tuple[float, dict[float, float]]:
    """The ``C`` with the lowest mean validation log loss over time-ordered folds."""
    from sklearn.metrics import log_loss

    folds = time_folds(train, horizon_days)
    if not folds:
        return 1.0, {}
    losses = {}
    for c in grid:
        scores = []
        for fit_idx, val_idx in folds:
            model = fit_logistic(train.iloc[fit_idx], c)
            val = train.iloc[val_idx]
            p = model.predict_proba_many(_features(val, model.feature_names))
            scores.append(log_loss(val["label"], np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1]))
        losses[c] = float(np.mean(scores))
    return min(losses, key=losses.get), losses


class RecencyHeuristic:
    """Recency-only baseline: ranks by -recency; probabilities by isotonic fit on recency."""

    feature_names = ["recency_days"]

    def __init__(self, train: pd.DataFrame) -> None:
        from sklearn.isotonic import IsotonicRegression

        self._iso = IsotonicRegression(
            increasing=False, out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4
        )
        self._iso.fit(train["recency_days"].astype(float).fillna(1e6), train["label"])

    def score(self, df: pd.DataFrame) -> np.ndarray:
        return -df["recency_days"].astype(float).fillna(1e6).to_numpy()

    def predict_proba_many(self, x: np.ndarray) -> np.ndarray:
        return self._iso.predict(np.asarray(x, dtype=float)[:, 0])


class GradientBoosting:
    """``HistGradientBoostingClassifier`` on the raw features, for the gap to a stronger model."""

    def __init__(self, train: pd.DataFrame, seed: int) -> None:
        from sklearn.ensemble import HistGradientBoostingClassifier

        self.feature_names = [f for f in FEATURES if f in train.columns]
        self._model = HistGradientBoostingClassifier(
            random_state=seed, max_iter=200, learning_rate=0.05
        )
        with single_openmp_thread():
            self._model.fit(_features(train, self.feature_names), train["label"].astype(int))

    def predict_proba_many(self, x: np.ndarray) -> np.ndarray:
        with single_openmp_thread():
            return self._model.predict_proba(x)[:, 1]


# -- evaluation ------------------------------------------------------------------------------
def probability_metrics(
    y: np.ndarray, p: np.ndarray, score: np.ndarray | None = None
) -> dict[str, float]:
    """ROC-AUC and PR-AUC (of ``score``, default ``p``), Brier, log loss and ECE (10 bins)."""
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    y = np.asarray(y).astype(int)
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    s = p if score is None else np.asarray(score, dtype=float)
    out = {"base_rate": float(y.mean()), "n": float(len(y))}
    if len(np.unique(y)) < 2:
        return out
    bins = np.minimum((p * 10).astype(int), 9)
    ece = sum(
        abs(p[bins == b].mean() - y[bins == b].mean()) * (bins == b).mean() for b in np.unique(bins)
    )
    out.update(
        {
            "roc_auc": float(roc_auc_score(y, s)),
            "pr_auc": float(average_precision_score(y, s)),
            "brier": float(brier_score_loss(y, p)),
            "log_loss": float(log_loss(y, p, labels=[0, 1])),
            "ece": float(ece),
        }
    )
    return out


def evaluate_propensity(model: Any, df: pd.DataFrame) -> dict[str, float]:
    """Hold-out metrics of any model with ``feature_names`` and ``predict_proba_many``."""
    p = model.predict_proba_many(_features(df, model.feature_names))
    score = model.score(df) if hasattr(model, "score") else None
    return probability_metrics(df["label"].to_numpy(), p, score)


def propensity_evidence(model: Any, df: pd.DataFrame) -> Evidence:
    """The gate's view of a model on ``df``: its metrics and ROC-AUC per bootstrap weight."""
    p = model.predict_proba_many(_features(df, model.feature_names))
    score = model.score(df) if hasattr(model, "score") else p
    metrics = probability_metrics(df["label"].to_numpy(), p, score)
    return auc_evidence(metrics, df["label"].to_numpy(), score)


def sliced_metrics(model: Any, df: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Metrics per country group (``is_uk`` 1 = "uk", 0 = "non_uk") to surface bias."""
    out = {}
    for name, flag in (("uk", 1), ("non_uk", 0)):
        part = df[df["is_uk"].astype(float).fillna(0) == flag]
        if len(part):
            out[name] = evaluate_propensity(model, part)
    return out


def _curves_figure(models: Mapping[str, Any], df: pd.DataFrame):
    from sklearn.metrics import precision_recall_curve, roc_curve

    from models.tracking import figure

    fig, _ = figure(11, 4.5)
    fig.clf()
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    y = df["label"].to_numpy().astype(int)
    for name, model in models.items():
        s = (
            model.score(df)
            if hasattr(model, "score")
            else model.predict_proba_many(_features(df, model.feature_names))
        )
        fpr, tpr, _ = roc_curve(y, s)
        prec, rec, _ = precision_recall_curve(y, s)
        ax1.plot(fpr, tpr, label=name)
        ax2.plot(rec, prec, label=name)
    ax1.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax1.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (hold-out)")
    ax2.set(xlabel="recall", ylabel="precision", title="Precision-recall (hold-out)")
    ax1.legend()
    fig.tight_layout()
    return fig


def _calibration_figure(models: Mapping[str, Any], df: pd.DataFrame):
    from sklearn.calibration import calibration_curve

    from models.tracking import figure

    fig, ax = figure(5.5, 5)
    y = df["label"].to_numpy().astype(int)
    for name, model in models.items():
        p = model.predict_proba_many(_features(df, model.feature_names))
        frac, mean_p = calibration_curve(y, p, n_bins=10, strategy="quantile")
        ax.plot(mean_p, frac, marker="o", label=name)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    ax.set(
        xlabel="mean predicted probability",
        ylabel="observed purchase rate",
        title="Calibration (hold-out)",
    )
    ax.legend()
    return fig


class PropensityFamily(ModelFamily):
    """Purchase propensity: a calibrated logistic regression, gated on ROC-AUC."""

    name = "propensity"
    registered_model = MODEL_NAME
    experiment = EXPERIMENT
    reads = "mart propensity_labels with Feast feature service propensity_v1 (point in time)"
    feature_service = FEATURE_SERVICE
    metric = PRIMARY_METRIC
    minimum = MINIMUM_ROC_AUC
    chance = 0.5
    api = "serving.apis.propensity"
    summary = "probability that a customer orders within the horizon (logistic regression)"

    def load_data(self, settings: Settings) -> pd.DataFrame:
        return build_propensity_data(settings)

    def split(self, data: pd.DataFrame, settings: Settings) -> Split:
        share = float(data.attrs.get("customer_share", 1.0))
        df = data.dropna(subset=["recency_days"]).sort_values(["event_timestamp", "customer_id"])
        df = df.reset_index(drop=True)
        train, test = time_split(df, settings.holdout_days, settings.propensity_horizon_days)
        info = {
            "customer_share": share,
            "horizon_days": settings.propensity_horizon_days,
            "holdout_days": settings.holdout_days,
            "n_train": len(train),
            "n_test": len(test),
            "train_snapshots": train["event_timestamp"].nunique(),
            "test_snapshots": test["event_timestamp"].nunique(),
        }
        return Split(train, test, df, info)

    def fit(self, split: Split, settings: Settings) -> Fitted:
        """LR (C by time-ordered CV) beside the recency heuristic and gradient boosting."""
        train, test = split.train, split.holdout
        c, cv_losses = choose_c(train, settings.propensity_horizon_days)
        model = fit_logistic(train, c)
        contenders = {
            "logistic": model,
            "recency_heuristic": RecencyHeuristic(train),
            "hist_gradient_boosting": GradientBoosting(train, settings.seed),
        }
        comparison = {name: evaluate_propensity(m, test) for name, m in contenders.items()}
        slices = {name: sliced_metrics(m, test) for name, m in contenders.items()}
        return Fitted(
            model=model,
            input_example=test[model.feature_names].head(3).astype(float),
            params={
                "features": ",".join(model.feature_names),
                "log_features": ",".join(model.log_features),
                "C": c,
                "C_grid": ",".join(map(str, C_GRID)),
                "class_weight": "balanced+prior_correction",
                "seed": settings.seed,
            },
            floor=comparison["recency_heuristic"].get("roc_auc"),
            tags={"C": c, "feature_service": FEATURE_SERVICE},
            details={
                "comparison": comparison,
                "slices": slices,
                "cv_log_loss": {str(k): v for k, v in cv_losses.items()},
            },
            run_name=f"propensity-C{c:g}",
            state={"contenders": contenders},
        )

    def evaluate(self, model: Any, split: Split, fitted: Fitted) -> Evidence:
        evidence = propensity_evidence(model, split.holdout)
        metrics = {k: v for k, v in evidence.metrics.items() if k != "n"}
        return dataclasses.replace(evidence, metrics=metrics)

    def groups(self, split: Split, settings: Settings) -> dict[str, Any]:
        """Country group and tenure cohort of each hold-out row at its snapshot."""
        from models.fairness import customer_groups

        test = split.holdout
        return customer_groups(settings, test["customer_id"], test["event_timestamp"])

    def log(self, fitted: Fitted, split: Split) -> None:
        import mlflow

        from models import tracking

        details, test = fitted.details, split.holdout
        contenders = fitted.state["contenders"]
        for name, m in details["comparison"].items():
            mlflow.log_metrics({f"{name}.{k}": v for k, v in m.items()})
            for group, gm in details["slices"][name].items():
                mlflow.log_metrics({f"{name}.{group}.{k}": v for k, v in gm.items()})
        for cc, loss in details["cv_log_loss"].items():
            mlflow.log_metric("cv_log_loss", loss, step=int(round(np.log10(float(cc)) * 10)))
        mlflow.log_dict(
            {k: details[k] for k in ("cv_log_loss", "slices", "comparison")}, "evaluation.json"
        )
        model = fitted.model
        mlflow.log_dict(
            dict(zip(model.feature_names, map(float, model.coef), strict=True)), "coefficients.json"
        )
        tracking.log_figure(_curves_figure(contenders, test), "roc_pr.png")
        tracking.log_figure(_calibration_figure(contenders, test), "calibration.png")

    def reference_profile(
        self, fitted: Fitted, split: Split, settings: Settings
    ) -> dict[str, Any] | None:
        """The inputs and scores of the newest snapshot, for the drift monitor."""
        from models.profile import snapshot_profile

        return snapshot_profile(fitted.to_serve, settings)


FAMILY = PropensityFamily()
