"""Ad response: the probability that an impression is clicked (and that it converts).

Training rows are the impressions of mart ``fct_ad_impressions``. The hold-out is **time
ordered**: the last ``HOLDOUT_SHARE`` of impressions by ``shown_at``, so the model is judged
on traffic after everything it learned from.

Compared side by side on the same hold-out:

- **hashed logistic regression** (served): the classic for display ads. Each impression is a
  bag of tokens (``placement=search_top``, ``placement x device=...``) hashed into
  ``N_FEATURES`` columns by scikit-learn's ``FeatureHasher``; trained on every click and a
  sample of the non-clicks (``NEGATIVE_RATIO`` negatives per positive at most), with the
  probabilities corrected for the sample (``ad_response_model.downsampling_correction``);
- **gradient boosting** (``HistGradientBoostingClassifier`` on category codes, native
  categorical splits), for the gap to a model that learns interactions by itself;
- the **placement-campaign rate**: the smoothed click-through rate of the impression's
  placement and campaign in the training part; its ROC-AUC is the floor.

Metrics: log loss, ROC-AUC, PR-AUC, Brier and calibration error (ECE). The conversion head
(P(conversion) per impression) is the same hashed model on the conversion label.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mercato.settings import Settings
from models.family import Fitted, ModelFamily, Split
from models.gate import Evidence, auc_evidence
from models.propensity import probability_metrics
from models.tracking import single_openmp_thread

if TYPE_CHECKING:
    from models.ad_response_model import HashedLogistic

MODEL_NAME = "mercato_ad_response"
EXPERIMENT = "mercato_ad_response"
HOLDOUT_SHARE = 0.2
N_FEATURES = 2**16
NEGATIVE_RATIO = 10.0
LOGISTIC_C = 0.5
MINIMUM_ROC_AUC = 0.55


# -- data ------------------------------------------------------------------------------------
def load_impressions(settings: Settings) -> pd.DataFrame:
    """Every impression of mart ``fct_ad_impressions``, oldest first."""
    from warehouse import reader

    return reader.query(
        settings, "select * from main.fct_ad_impressions order by shown_at, impression_id"
    )


def time_split(df: pd.DataFrame, share: float = HOLDOUT_SHARE) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, hold-out): the hold-out is the last ``share`` of impressions by time."""
    df = df.sort_values(["shown_at", "impression_id"]).reset_index(drop=True)
    cut = int(round(len(df) * (1 - share)))
    train, test = df.iloc[:cut], df.iloc[cut:]
    if train["clicked"].nunique() < 2 or test["clicked"].nunique() < 2:
        raise ValueError("ad response needs clicked and unclicked impressions on both sides")
    return train.reset_index(drop=True), test.reset_index(drop=True)


# -- models ----------------------------------------------------------------------------------
def fit_hashed_logistic(
    rows: Sequence[Sequence[str]],
    y: np.ndarray,
    seed: int = 0,
    negative_ratio: float = NEGATIVE_RATIO,
    n_features: int = N_FEATURES,
    c: float = LOGISTIC_C,
) -> tuple[HashedLogistic, float]:
    """(the head, the negative sampling rate used): LR on ``FeatureHasher`` columns of the
    token lists, all positives and at most ``negative_ratio`` negatives per positive, with
    the intercept moved by ``log(rate)`` so the probabilities hold on the full traffic."""
    from sklearn.feature_extraction import FeatureHasher
    from sklearn.linear_model import LogisticRegression

    from models.ad_response_model import HashedLogistic

    y = np.asarray(y).astype(int)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    rate = min(1.0, negative_ratio * n_pos / n_neg) if n_neg else 1.0
    rng = np.random.default_rng(seed)
    keep = (y == 1) | (rng.random(len(y)) < rate)
    hasher = FeatureHasher(n_features=n_features, input_type="string", alternate_sign=False)
    x = hasher.transform([rows[i] for i in np.flatnonzero(keep)])
    lr = LogisticRegression(C=c, solver="liblinear", max_iter=1000).fit(x, y[keep])
    # odds on the sample = odds on the traffic / rate: undo it in the intercept
    intercept = float(lr.intercept_[0]) + float(np.log(rate))
    return HashedLogistic(n_features, lr.coef_[0], intercept), rate


class CategoryBoosting:
    """``HistGradientBoostingClassifier`` on category codes (native categorical splits)."""

    def __init__(self, train: pd.DataFrame, columns: Sequence[str], seed: int = 0) -> None:
        from sklearn.ensemble import HistGradientBoostingClassifier

        self.columns = list(columns)
        self.codes = {
            c: {v: i for i, v in enumerate(train[c].astype(str).value_counts().index[:250])}
            for c in self.columns
        }
        self._model = HistGradientBoostingClassifier(
            categorical_features=[True] * len(self.columns),
            max_iter=150,
            learning_rate=0.08,
            random_state=seed,
        )
        with single_openmp_thread():
            self._model.fit(self.encode(train), train["clicked"].astype(int))

    def encode(self, df: pd.DataFrame) -> np.ndarray:
        return np.column_stack(
            [df[c].astype(str).map(self.codes[c]).astype(float).to_numpy() for c in self.columns]
        )

    def predict_proba_many(self, df: pd.DataFrame) -> np.ndarray:
        with single_openmp_thread():
            return self._model.predict_proba(self.encode(df))[:, 1]


class PlacementCampaignRate:
    """Baseline: the click-through rate of the (placement, campaign) pair in training,
    shrunk towards the overall rate by ``prior`` pseudo-impressions."""

    def __init__(self, train: pd.DataFrame, prior: float = 50.0) -> None:
        self.overall = float(train["clicked"].mean())
        groups = train.groupby(["placement", "campaign"])["clicked"].agg(["sum", "count"])
        rates = (groups["sum"] + prior * self.overall) / (groups["count"] + prior)
        self.rates = {k: float(v) for k, v in rates.items()}

    def predict_proba_many(self, df: pd.DataFrame) -> np.ndarray:
        keys = zip(df["placement"], df["campaign"], strict=True)
        return np.array([self.rates.get(k, self.overall) for k in keys])


def _context(df: pd.DataFrame) -> list[list[str]]:
    from models.ad_response_model import CONTEXT, tokens

    return [tokens(r) for r in df.reindex(columns=list(CONTEXT)).to_dict("records")]


def compare(train: pd.DataFrame, test: pd.DataFrame, seed: int = 0) -> dict[str, Any]:
    """The served hashed model (both heads), boosting and the baseline on the same hold-out."""
    from models.ad_response_model import CATEGORICAL, AdResponseModel

    seconds: dict[str, float] = {}
    tick = time.perf_counter()
    rows = _context(train)
    click, rate = fit_hashed_logistic(rows, train["clicked"].to_numpy(), seed)
    conversion = None
    if train["converted"].sum() >= 5:
        conversion, _ = fit_hashed_logistic(rows, train["converted"].to_numpy(), seed)
    model = AdResponseModel(click, conversion)
    seconds["hashed_logistic"] = time.perf_counter() - tick
    tick = time.perf_counter()
    columns = [*CATEGORICAL, "hour_of_day", "day_of_week", "is_known_customer"]
    boosting = CategoryBoosting(train, columns, seed)
    seconds["hist_gradient_boosting"] = time.perf_counter() - tick
    baseline = PlacementCampaignRate(train)
    contenders = {
        "hashed_logistic": model,
        "hist_gradient_boosting": boosting,
        "placement_campaign_rate": baseline,
    }
    y = test["clicked"].to_numpy()
    hold_out = {
        n: probability_metrics(y, m.predict_proba_many(test)) for n, m in contenders.items()
    }
    if conversion is not None and test["converted"].nunique() == 2:
        p = model.predict_rows(test.reindex(columns=model.feature_names).to_dict("records"))
        hold_out["conversion_hashed_logistic"] = probability_metrics(
            test["converted"].to_numpy(), p["conversion"]
        )
    return {
        "model": model,
        "contenders": contenders,
        "hold_out": hold_out,
        "negative_rate": rate,
        "fit_seconds": seconds,
    }


class AdResponseFamily(ModelFamily):
    """Click-through of an impression: hashed logistic regression gated on ROC-AUC."""

    name = "ad_response"
    registered_model = MODEL_NAME
    experiment = EXPERIMENT
    reads = "mart fct_ad_impressions (ads source)"
    metric = "roc_auc"
    minimum = MINIMUM_ROC_AUC
    chance = 0.5
    api = "serving.apis.ad_response"
    summary = "probability that an ad impression is clicked, and that it converts"

    def has_data(self, settings: Settings) -> bool:
        from warehouse import reader

        rows = reader.query_if_built(settings, "select count(*) as n from main.fct_ad_impressions")
        return rows is not None and int(rows["n"].iloc[0]) > 0

    def load_data(self, settings: Settings) -> pd.DataFrame:
        return load_impressions(settings)

    def split(self, data: pd.DataFrame, settings: Settings) -> Split:
        train, test = time_split(data)
        info = {
            "holdout": f"last {HOLDOUT_SHARE:.0%} of impressions by shown_at",
            "holdout_starts": str(test["shown_at"].min()),
            "n_train": len(train),
            "n_test": len(test),
        }
        return Split(train, test, data, info)

    def fit(self, split: Split, settings: Settings) -> Fitted:
        result = compare(split.train, split.holdout, settings.seed)
        model = result["model"]
        return Fitted(
            model=model,
            input_example=split.holdout[model.feature_names].head(3),
            params={
                "n_features": N_FEATURES,
                "negative_ratio": NEGATIVE_RATIO,
                "negative_rate": result["negative_rate"],
                "C": LOGISTIC_C,
                "seed": settings.seed,
            },
            floor=result["hold_out"]["placement_campaign_rate"].get("roc_auc"),
            details={k: v for k, v in result.items() if k not in ("model", "contenders")},
            run_name="ad-response-hashed-lr",
        )

    def evaluate(self, model: Any, split: Split, fitted: Fitted) -> Evidence:
        y = split.holdout["clicked"].to_numpy()
        p = model.predict_proba_many(split.holdout)
        metrics = {k: v for k, v in probability_metrics(y, p).items() if k != "n"}
        return auc_evidence(metrics, y, p)

    def log(self, fitted: Fitted, split: Split) -> None:
        import mlflow

        for name, metrics in fitted.details["hold_out"].items():
            mlflow.log_metrics({f"{name}.{k}": v for k, v in metrics.items()})
        mlflow.log_dict(fitted.details, "evaluation.json")


FAMILY = AdResponseFamily()
