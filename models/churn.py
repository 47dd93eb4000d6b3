"""Churn risk: P(a customer buys nothing within the horizon after a snapshot).

**Labels** come from mart ``churn_labels``: for each (customer, snapshot) of
``customer_features`` with a purchase before the snapshot and a whole horizon inside the data,
``label`` is 1 when no purchase falls in ``[snapshot_at, snapshot_at + horizon_days)``. The
horizon N is the dbt var ``churn_horizon_days`` (default 90) and travels with the rows
(``horizon_days``), so the model, its splits and the API always say which N they mean.
Features are the point-in-time customer features of Feast service ``churn_v1``.

**Split** in time (``models.propensity.time_split``): the hold-out is the latest labelled
snapshot (the freshest "who of today's customers is gone N days later" whose answer is
known), and training uses only snapshots whose N-day label window closes before it, so no
label crosses the cut. A longer hold-out would cost N more days of training data per
snapshot it adds (on the default synthetic run of 240 days the last 30 days of snapshots
would leave about 50 training rows).

**Models, side by side on that hold-out:**

- the served model: logistic regression on signed-log, standardised features with balanced
  class weights and the prior-corrected intercept (``models.propensity.fit_logistic``, ``C`` by
  log loss on purged time folds), so its output is a calibrated probability of churn;
- ``HistGradientBoostingClassifier`` (scikit-learn), the stronger well-known model;
- the recency rule: longer since the last order, more likely gone (probabilities by isotonic
  regression on recency); its ROC-AUC is the floor the model must beat;
- BG/NBD, fitted at each hold-out snapshot on every customer's purchase history before it (no
  label is used): its probability of being inactive, ``1 - P(alive)``, as the issue asks, and
  its own probability of the label event, no purchase in the next N days
  (``models.clv.probability_no_purchase``), which also counts alive customers who stay silent.

The gate decides on ROC-AUC (paired bootstrap over hold-out rows, minimum 0.55, floor the
recency rule's). The served ``models.value_pyfunc.ChurnModel`` carries the horizon and the
risk bands (``models.value_pyfunc.CHURN_BANDS``: low below 1/3, medium below 2/3, high from
2/3 on).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mercato.settings import Settings, get_settings
from models.family import Fitted, ModelFamily, Split
from models.gate import Evidence, auc_evidence
from models.propensity import (
    C_GRID,
    GradientBoosting,
    choose_c,
    fit_logistic,
    probability_metrics,
    time_split,
)

if TYPE_CHECKING:
    from models.value_pyfunc import ChurnModel

MODEL_NAME = "mercato_churn"
EXPERIMENT = "mercato_churn"
FEATURE_SERVICE = "churn_v1"
PRIMARY_METRIC = "roc_auc"
#: Below this ROC-AUC a model ranks customers barely better than a coin: never served.
MINIMUM_ROC_AUC = 0.55
#: Columns of ``churn_labels`` the BG/NBD baseline reads (days).
BTYD_COLUMNS = ("btyd_frequency", "btyd_recency_days", "btyd_age_days")
#: ``has_data`` asks for at least this many labelled rows of each class.
MIN_ROWS_PER_CLASS = 20


# -- data ------------------------------------------------------------------------------------
def build_churn_data(settings: Settings | None = None) -> pd.DataFrame:
    """Labels from mart ``churn_labels`` joined point-in-time with Feast service ``churn_v1``
    (sampled above ``settings.train_max_rows``: :func:`features.store.labelled_training_set`)."""
    from features import store

    return store.labelled_training_set(
        settings or get_settings(),
        "main.churn_labels",
        "customer_id, snapshot_at as event_timestamp, label, horizon_days, "
        "btyd_frequency, btyd_recency_days, btyd_age_days",
        FEATURE_SERVICE,
    )


def _features(df: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    return df.reindex(columns=list(names)).astype(float).fillna(0.0).to_numpy()


# -- baselines -------------------------------------------------------------------------------
class RecencyRule:
    """The longer since the last order, the likelier gone: ranks by recency, probabilities by
    an increasing isotonic fit of the label on recency in the training part."""

    feature_names = ["recency_days"]

    def __init__(self, train: pd.DataFrame) -> None:
        from sklearn.isotonic import IsotonicRegression

        self._iso = IsotonicRegression(
            increasing=True, out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4
        )
        self._iso.fit(self._recency(train), train["label"].astype(int))

    @staticmethod
    def _recency(df: pd.DataFrame) -> np.ndarray:
        return df["recency_days"].astype(float).fillna(1e6).to_numpy()

    def score(self, df: pd.DataFrame) -> np.ndarray:
        return self._recency(df)

    def predict_proba_many(self, x: np.ndarray) -> np.ndarray:
        return self._iso.predict(np.asarray(x, dtype=float)[:, 0])


def bgnbd_churn_scores(df: pd.DataFrame, horizon_days: float) -> dict[str, np.ndarray]:
    """BG/NBD fitted at each snapshot on that snapshot's purchase histories (no labels): per
    row, ``p_inactive = 1 - P(alive)`` and ``p_no_purchase`` = P(no purchase in the horizon)."""
    from models.clv import fit_purchase_model, probability_no_purchase

    inactive = np.full(len(df), np.nan)
    silent = np.full(len(df), np.nan)
    times = pd.to_datetime(df["event_timestamp"]).to_numpy()
    for ts in np.unique(times):
        rows = np.flatnonzero(times == ts)
        part = df.iloc[rows]
        x, t_x, age = (part[c].astype(float).to_numpy() for c in BTYD_COLUMNS)
        stats = pd.DataFrame({"frequency": x, "recency_days": t_x, "age_days": age})
        model = fit_purchase_model("bgnbd", stats)
        inactive[rows] = 1.0 - model.probability_alive(x, t_x, age)
        silent[rows] = probability_no_purchase(model, horizon_days, x, t_x, age)
    return {"p_inactive": inactive, "p_no_purchase": silent}


# -- evaluation ------------------------------------------------------------------------------
def contender_scores(
    fitted_models: Mapping[str, Any], df: pd.DataFrame, horizon_days: float
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{name: (ranking score, probability)}`` on ``df`` for every contender, BG/NBD included."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, model in fitted_models.items():
        p = np.asarray(model.predict_proba_many(_features(df, model.feature_names)), dtype=float)
        score = model.score(df) if hasattr(model, "score") else p
        out[name] = (np.asarray(score, dtype=float), p)
    bgnbd = bgnbd_churn_scores(df, horizon_days)
    out["bgnbd_p_inactive"] = (bgnbd["p_inactive"], bgnbd["p_inactive"])
    out["bgnbd_p_no_purchase"] = (bgnbd["p_no_purchase"], bgnbd["p_no_purchase"])
    return out


def churn_evidence(model: Any, df: pd.DataFrame) -> Evidence:
    """The gate's view of a model on ``df``: its metrics and ROC-AUC per bootstrap weight."""
    p = model.predict_proba_many(_features(df, model.feature_names))
    y = df["label"].to_numpy()
    metrics = {k: v for k, v in probability_metrics(y, p).items() if k != "n"}
    return auc_evidence(metrics, y, p)


def _curves_figure(y: np.ndarray, scores: Mapping[str, tuple[np.ndarray, np.ndarray]]):
    from sklearn.metrics import precision_recall_curve, roc_curve

    from models.tracking import figure

    fig, _ = figure(11, 4.5)
    fig.clf()
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for name, (score, _) in scores.items():
        fpr, tpr, _ = roc_curve(y, score)
        prec, rec, _ = precision_recall_curve(y, score)
        ax1.plot(fpr, tpr, label=name)
        ax2.plot(rec, prec, label=name)
    ax1.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax1.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (hold-out)")
    ax2.set(xlabel="recall", ylabel="precision", title="Precision-recall, churn (hold-out)")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _calibration_figure(y: np.ndarray, scores: Mapping[str, tuple[np.ndarray, np.ndarray]]):
    from sklearn.calibration import calibration_curve

    from models.tracking import figure

    fig, ax = figure(5.5, 5)
    for name, (_, p) in scores.items():
        frac, mean_p = calibration_curve(y, np.clip(p, 0, 1), n_bins=10, strategy="quantile")
        ax.plot(mean_p, frac, marker="o", label=name)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    ax.set(
        xlabel="mean predicted churn probability",
        ylabel="observed churn rate",
        title="Calibration (hold-out)",
    )
    ax.legend(fontsize=8)
    return fig


class ChurnFamily(ModelFamily):
    """Churn risk: a calibrated logistic regression on Feast features, gated on ROC-AUC."""

    name = "churn"
    registered_model = MODEL_NAME
    experiment = EXPERIMENT
    reads = "mart churn_labels with Feast feature service churn_v1 (point in time)"
    feature_service = FEATURE_SERVICE
    metric = PRIMARY_METRIC
    minimum = MINIMUM_ROC_AUC
    chance = 0.5
    api = "serving.apis.churn"
    summary = "probability that a customer buys nothing within the horizon, with its band"

    def has_data(self, settings: Settings) -> bool:
        """Labelled snapshots of both classes (a data span longer than the horizon)."""
        from warehouse import reader

        rows = reader.query_if_built(
            settings,
            "select sum(label) as churned, count(*) - sum(label) as stayed from main.churn_labels",
        )
        if rows is None:
            return False
        churned, stayed = rows["churned"].iloc[0], rows["stayed"].iloc[0]
        return bool(pd.notna(churned) and min(churned, stayed) >= MIN_ROWS_PER_CLASS)

    def load_data(self, settings: Settings) -> pd.DataFrame:
        return build_churn_data(settings)

    def split(self, data: pd.DataFrame, settings: Settings) -> Split:
        share = float(data.attrs.get("customer_share", 1.0))
        df = data.dropna(subset=["recency_days"]).sort_values(["event_timestamp", "customer_id"])
        df = df.reset_index(drop=True)
        # the mart's horizon is what the labels mean (the settings' may have changed since)
        horizon = int(df["horizon_days"].iloc[0]) if len(df) else settings.churn_horizon_days
        train, test = time_split(df, 0, horizon)
        info = {
            "customer_share": share,
            "horizon_days": horizon,
            "holdout_snapshot": str(pd.Timestamp(test["event_timestamp"].iloc[0])),
            "n_train": len(train),
            "n_test": len(test),
            "train_snapshots": train["event_timestamp"].nunique(),
            "test_snapshots": test["event_timestamp"].nunique(),
            "test_churn_rate": float(test["label"].mean()),
        }
        return Split(train, test, df, info)

    def fit(self, split: Split, settings: Settings) -> Fitted:
        """LR (C by purged time folds) beside gradient boosting, recency and BG/NBD."""
        train, test = split.train, split.holdout
        horizon = int(split.info["horizon_days"])
        from models.value_pyfunc import ChurnModel

        c, cv_losses = choose_c(train, horizon)
        model = ChurnModel(fit_logistic(train, c), horizon)
        contenders = {
            "logistic": model,
            "hist_gradient_boosting": GradientBoosting(train, settings.seed),
            "recency_rule": RecencyRule(train),
        }
        scores = contender_scores(contenders, test, horizon)
        y = test["label"].to_numpy()
        comparison = {name: probability_metrics(y, p, s) for name, (s, p) in scores.items()}
        model.segment_means = churn_segment_means(settings, model)
        return Fitted(
            model=model,
            input_example=test[model.feature_names].head(3).astype(float),
            params={
                "features": ",".join(model.feature_names),
                "log_features": ",".join(model.log_features),
                "C": c,
                "C_grid": ",".join(map(str, C_GRID)),
                "class_weight": "balanced+prior_correction",
                "horizon_days": horizon,
                "bands": ",".join(f"{name}<{upper:.4g}" for upper, name in model.bands),
                "seed": settings.seed,
            },
            floor=comparison["recency_rule"].get("roc_auc"),
            tags={"C": c, "feature_service": FEATURE_SERVICE, "horizon_days": horizon},
            details={
                "comparison": comparison,
                "cv_log_loss": {str(k): v for k, v in cv_losses.items()},
                "horizon_days": horizon,
                "segment_means": model.segment_means,
            },
            run_name=f"churn-{horizon}d-C{c:g}",
            state={"scores": scores},
        )

    def evaluate(self, model: Any, split: Split, fitted: Fitted) -> Evidence:
        return churn_evidence(model, split.holdout)

    def groups(self, split: Split, settings: Settings) -> dict[str, Any]:
        """Country group and tenure cohort of each hold-out row at its snapshot."""
        from models.fairness import customer_groups

        test = split.holdout
        return customer_groups(settings, test["customer_id"], test["event_timestamp"])

    def log(self, fitted: Fitted, split: Split) -> None:
        import mlflow

        from models import tracking

        details = fitted.details
        for name, values in details["comparison"].items():
            mlflow.log_metrics({f"{name}.{k}": v for k, v in values.items() if np.isfinite(v)})
        for cc, loss in details["cv_log_loss"].items():
            mlflow.log_metric("cv_log_loss", loss, step=int(round(np.log10(float(cc)) * 10)))
        mlflow.log_dict(
            {k: details[k] for k in ("comparison", "cv_log_loss", "horizon_days")},
            "evaluation.json",
        )
        model = fitted.model
        mlflow.log_dict(
            dict(zip(model.feature_names, map(float, model.coef), strict=True)), "coefficients.json"
        )
        if details["segment_means"]:
            mlflow.log_dict(details["segment_means"], "segment_means.json")
        y = split.holdout["label"].to_numpy().astype(int)
        scores = fitted.state["scores"]
        tracking.log_figure(_curves_figure(y, scores), "roc_pr.png")
        tracking.log_figure(_calibration_figure(y, scores), "calibration.png")


def churn_segment_means(settings: Settings, model: ChurnModel) -> dict[str, Any]:
    """Mean churn risk now (latest snapshot) per segment of the segmentation champion."""
    from models.clv import segment_means

    def risks(features: pd.DataFrame) -> dict[str, float]:
        p = model.predict_proba_many(_features(features, model.feature_names))
        return dict(zip(features["customer_id"].astype(str), p.tolist(), strict=True))

    return segment_means(settings, risks)

    def reference_profile(
        self, fitted: Fitted, split: Split, settings: Settings
    ) -> dict[str, Any] | None:
        """The inputs and scores of the newest snapshot, for the drift monitor."""
        from models.profile import snapshot_profile

        return snapshot_profile(fitted.to_serve, settings)


FAMILY = ChurnFamily()
