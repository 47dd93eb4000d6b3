"""Session purchase intent: P(a live browsing session ends in a purchase), from what it did so far.

Training rows are the sessions of mart ``fct_sessions`` (one per session, label 1 when it
bought). Every feature is a running count, a running total of seconds or a running mean of
the pages seen (bounce, exit, page value), plus the session's context (month, visitor type,
system, browser, region, traffic source, weekend), so the served model reads a live session's
values "so far" with the meaning it learned them.

Hold-out: a **stratified** random quarter of the sessions (``HOLDOUT_SHARE``, seeded). The UCI
file has no timestamp (only a month, with no year), so a time-ordered split cannot be made on
it; stratifying keeps the purchase rate of the hold-out equal to the training part's.

Two calibrated scikit-learn models are fitted side by side on the training part: a logistic
regression on the encoded features and ``HistGradientBoostingClassifier`` on the same matrix.
Each is calibrated by Platt scaling of its log-odds, fitted on 3-fold out-of-fold scores of the
training part; the one with the lower out-of-fold log loss is served (the hold-out is never
used to choose). Both are compared on the hold-out with the **page-value rule** (rank sessions
by ``page_value``, the analytics value of the pages seen; probabilities by isotonic regression
on it), whose ROC-AUC is the floor the served model must beat.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mercato.settings import Settings
from models.family import Fitted, ModelFamily, Split
from models.gate import Evidence, auc_evidence
from models.propensity import probability_metrics
from models.tracking import single_openmp_thread

if TYPE_CHECKING:
    from models.session_intent_model import SessionIntentModel

MODEL_NAME = "mercato_session_intent"
EXPERIMENT = "mercato_session_intent"
PRIMARY_METRIC = "roc_auc"
#: Below this ROC-AUC the model ranks sessions barely better than a coin: never served.
MINIMUM_ROC_AUC = 0.6
HOLDOUT_SHARE = 0.25
CV_FOLDS = 3
LOGISTIC_C = 1.0
BOOSTING = {"max_iter": 150, "learning_rate": 0.05, "max_leaf_nodes": 15, "l2_regularization": 1.0}


# -- data ------------------------------------------------------------------------------------
def load_sessions(settings: Settings) -> pd.DataFrame:
    """Every session of mart ``fct_sessions`` with its features and label, in id order."""
    from models.session_intent_model import FEATURES
    from warehouse import reader

    columns = ", ".join(("session_id", *FEATURES, "label"))
    return reader.query(settings, f"select {columns} from main.fct_sessions order by session_id")


def stratified_split(
    df: pd.DataFrame, share: float = HOLDOUT_SHARE, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, hold-out): a seeded random ``share`` of the sessions, stratified on the label."""
    from sklearn.model_selection import train_test_split

    if df["label"].nunique() < 2 or df["label"].value_counts().min() < 4:
        raise ValueError("session intent needs at least 4 sessions that bought and 4 that did not")
    train, test = train_test_split(df, test_size=share, stratify=df["label"], random_state=seed)
    return train.reset_index(drop=True), test.reset_index(drop=True)


# -- models ----------------------------------------------------------------------------------
def _logistic(seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    # liblinear: a dense design of ~80 columns solves in a fraction of lbfgs's time
    return LogisticRegression(C=LOGISTIC_C, solver="liblinear", intercept_scaling=10.0)


def _boosting(seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(random_state=seed, early_stopping=False, **BOOSTING)


SCORERS = {"logistic": _logistic, "gradient_boosting": _boosting}


def platt(log_odds: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling ``p = sigmoid(a * log_odds + b)`` by maximum likelihood (nearly no penalty)."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e6, max_iter=1000).fit(np.asarray(log_odds).reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def fit_calibrated(
    kind: str, train: pd.DataFrame, seed: int = 0, folds: int = CV_FOLDS
) -> tuple[SessionIntentModel, float]:
    """(the model of ``kind`` fitted on ``train`` and Platt-calibrated, its out-of-fold log loss).

    The calibration is fitted on the out-of-fold log-odds of ``folds`` stratified folds, so it
    corrects what the scorer does to data it has not seen.
    """
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    from models.boosted_trees import BoostedTrees
    from models.session_intent_model import SessionEncoder, SessionIntentModel

    y = train["label"].to_numpy().astype(int)
    encoder = SessionEncoder.fit(train)
    x = encoder.encode_frame(train)
    oof = np.zeros(len(y))
    with single_openmp_thread():
        for fit_idx, val_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
            scorer = SCORERS[kind](seed).fit(x[fit_idx], y[fit_idx])
            oof[val_idx] = scorer.decision_function(x[val_idx])
        scorer = SCORERS[kind](seed).fit(x, y)
    a, b = platt(oof, y)
    oof_p = np.clip(1.0 / (1.0 + np.exp(-(a * oof + b))), 1e-6, 1 - 1e-6)
    if kind == "logistic":
        model = SessionIntentModel(
            encoder, kind, (a, b), coef=scorer.coef_[0], intercept=float(scorer.intercept_[0])
        )
    else:
        model = SessionIntentModel(encoder, kind, (a, b), trees=BoostedTrees.from_sklearn(scorer))
    return model, float(log_loss(y, oof_p, labels=[0, 1]))


class PageValueRule:
    """The baseline: sessions ranked by ``page_value``; probabilities by isotonic regression."""

    feature_names = ["page_value"]

    def __init__(self, train: pd.DataFrame) -> None:
        from sklearn.isotonic import IsotonicRegression

        self._iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4)
        self._iso.fit(train["page_value"].astype(float), train["label"].astype(int))

    def score(self, df: pd.DataFrame) -> np.ndarray:
        return df["page_value"].astype(float).to_numpy()

    def predict_proba_many(self, df: pd.DataFrame) -> np.ndarray:
        return self._iso.predict(df["page_value"].astype(float).to_numpy())


# -- evaluation ------------------------------------------------------------------------------
def _scores(model: Any, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(model.predict_proba_many(df), dtype=float)
    return p, (model.score(df) if hasattr(model, "score") else p)


def evaluate_intent(model: Any, df: pd.DataFrame) -> dict[str, float]:
    """ROC-AUC, PR-AUC, Brier, log loss and ECE of any model on ``df``."""
    p, score = _scores(model, df)
    return probability_metrics(df["label"].to_numpy(), p, score)


def calibration_table(model: Any, df: pd.DataFrame, bins: int = 10) -> list[dict[str, float]]:
    """Mean predicted vs observed purchase rate per decile of the prediction."""
    p, _ = _scores(model, df)
    y = df["label"].to_numpy().astype(int)
    order = np.argsort(p, kind="stable")
    out = []
    for part in np.array_split(order, bins):
        if len(part):
            out.append(
                {
                    "n": int(len(part)),
                    "predicted": float(p[part].mean()),
                    "observed": float(y[part].mean()),
                }
            )
    return out


def compare(train: pd.DataFrame, test: pd.DataFrame, seed: int = 0) -> dict[str, Any]:
    """Both calibrated models and the page-value rule, fitted on ``train``, scored on ``test``:
    the whole comparison the family, the bench and the real-data test report."""
    import time

    contenders: dict[str, Any] = {}
    cv_log_loss: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for kind in SCORERS:
        tick = time.perf_counter()
        contenders[kind], cv_log_loss[kind] = fit_calibrated(kind, train, seed)
        seconds[kind] = time.perf_counter() - tick
    tick = time.perf_counter()
    contenders["page_value_rule"] = PageValueRule(train)
    seconds["page_value_rule"] = time.perf_counter() - tick
    chosen = min(cv_log_loss, key=cv_log_loss.get)
    return {
        "chosen": chosen,
        "contenders": contenders,
        "cv_log_loss": cv_log_loss,
        "fit_seconds": seconds,
        "hold_out": {name: evaluate_intent(m, test) for name, m in contenders.items()},
        "calibration": {name: calibration_table(m, test) for name, m in contenders.items()},
    }


def _figures(contenders: Mapping[str, Any], df: pd.DataFrame) -> tuple[Any, Any]:
    from sklearn.metrics import precision_recall_curve, roc_curve

    from models.tracking import figure

    y = df["label"].to_numpy().astype(int)
    curves, _ = figure(11, 4.5)
    curves.clf()
    ax1, ax2 = curves.add_subplot(1, 2, 1), curves.add_subplot(1, 2, 2)
    reliability, ax3 = figure(5.5, 5)
    for name, model in contenders.items():
        p, score = _scores(model, df)
        fpr, tpr, _ = roc_curve(y, score)
        prec, rec, _ = precision_recall_curve(y, score)
        ax1.plot(fpr, tpr, label=name)
        ax2.plot(rec, prec, label=name)
        table = calibration_table(model, df)
        ax3.plot([r["predicted"] for r in table], [r["observed"] for r in table], "o-", label=name)
    ax1.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax1.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (hold-out)")
    ax2.set(xlabel="recall", ylabel="precision", title="Precision-recall (hold-out)")
    ax3.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    ax3.set(xlabel="predicted", ylabel="observed purchase rate", title="Calibration (deciles)")
    ax1.legend()
    ax3.legend()
    curves.tight_layout()
    return curves, reliability


class SessionIntentFamily(ModelFamily):
    """Session purchase intent: a calibrated classifier gated on ROC-AUC over the page rule."""

    name = "session_intent"
    registered_model = MODEL_NAME
    experiment = EXPERIMENT
    reads = "mart fct_sessions (sessions source)"
    metric = PRIMARY_METRIC
    minimum = MINIMUM_ROC_AUC
    chance = 0.5
    api = "serving.apis.session_intent"
    summary = "probability that a live browsing session ends in a purchase"

    def has_data(self, settings: Settings) -> bool:
        from warehouse import reader

        rows = reader.query_if_built(settings, "select count(*) as n from main.fct_sessions")
        return rows is not None and int(rows["n"].iloc[0]) > 0

    def load_data(self, settings: Settings) -> pd.DataFrame:
        return load_sessions(settings)

    def split(self, data: pd.DataFrame, settings: Settings) -> Split:
        train, test = stratified_split(data, HOLDOUT_SHARE, settings.seed)
        info = {
            "holdout": f"stratified {HOLDOUT_SHARE:.0%} (no timestamps in the UCI layout)",
            "n_train": len(train),
            "n_test": len(test),
            "train_purchase_rate": float(train["label"].mean()),
            "test_purchase_rate": float(test["label"].mean()),
        }
        return Split(train, test, data, info)

    def fit(self, split: Split, settings: Settings) -> Fitted:
        result = compare(split.train, split.holdout, settings.seed)
        chosen = result["chosen"]
        model = result["contenders"][chosen]
        example = split.holdout[list(model.feature_names)].head(3)
        return Fitted(
            model=model,
            input_example=example,
            params={
                "scorer": chosen,
                "calibration": f"platt on {CV_FOLDS}-fold out-of-fold log-odds",
                "logistic_C": LOGISTIC_C,
                **{f"boosting_{k}": v for k, v in BOOSTING.items()},
                "seed": settings.seed,
            },
            metrics={f"cv_log_loss_{k}": v for k, v in result["cv_log_loss"].items()},
            floor=result["hold_out"]["page_value_rule"].get("roc_auc"),
            tags={"scorer": chosen},
            details={k: v for k, v in result.items() if k != "contenders"},
            run_name=f"session-intent-{chosen}",
            state={"contenders": result["contenders"]},
        )

    def evaluate(self, model: Any, split: Split, fitted: Fitted) -> Evidence:
        p, score = _scores(model, split.holdout)
        y = split.holdout["label"].to_numpy()
        metrics = {k: v for k, v in probability_metrics(y, p, score).items() if k != "n"}
        return auc_evidence(metrics, y, score)

    def log(self, fitted: Fitted, split: Split) -> None:
        import mlflow

        from models import tracking

        for name, metrics in fitted.details["hold_out"].items():
            mlflow.log_metrics({f"{name}.{k}": v for k, v in metrics.items()})
        mlflow.log_dict(
            {k: fitted.details[k] for k in ("chosen", "cv_log_loss", "hold_out", "calibration")},
            "evaluation.json",
        )
        curves, reliability = _figures(fitted.state["contenders"], split.holdout)
        tracking.log_figure(curves, "roc_pr.png")
        tracking.log_figure(reliability, "calibration.png")


FAMILY = SessionIntentFamily()
__all__ = ["FAMILY", "MODEL_NAME", "compare", "stratified_split"]
