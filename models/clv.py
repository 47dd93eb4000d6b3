"""Customer lifetime value: future purchases, P(active) and spend from buy-till-you-die models.

**Data.** One row per customer from mart ``clv_customer_summary`` (built by dbt from
``fct_order_lines`` through ``customer_purchase_days``: one purchase per customer-day, time in
days), with two periods: the *calibration* period up to ``calibration_end`` (the last
``clv_holdout_days`` of the data held out, dbt var, default 90) with what each customer did in
the hold-out, and the *full* period up to the last purchase day, which the served model
predicts from. The split is therefore in time and fixed by the mart: training fits on the
calibration columns of the customers known at ``calibration_end`` and is judged on their
hold-out purchases.

**Models** (``models.btyd``, checked against ``lifetimes`` and the published CDNOW values):

- BG/NBD for the number of future purchases and P(active), with Pareto/NBD as the contender:
  Pareto/NBD is served only when its calibration log-likelihood beats BG/NBD's by more than
  :data:`PARETO_MIN_GAIN` nats (both have four parameters, so that is an AIC difference of 2;
  on a tie the simpler, analytic-gradient BG/NBD is kept). The choice never looks at the
  hold-out, so the gate's hold-out stays unseen;
- Gamma-Gamma for the spend per future order (fitted on customers with repeat purchases);
- CLV = the discounted value of the expected purchases over ``settings.clv_horizon_days``
  (``MERCATO_CLV_HORIZON_DAYS``, 365) at the annual rate ``settings.clv_discount_rate``
  (``MERCATO_CLV_DISCOUNT_RATE``, 0.10), cash discounted at the end of each month
  (``models.btyd.customer_lifetime_value``).

**Gate.** The metric is ``holdout_r2``: the share of the variance of the hold-out purchase days
per customer that the predictions explain, ``1 - SSE / SST`` (0 = predicting everyone the
mean, the "chance" of this metric), computed for any bootstrap weights so the paired bootstrap
resamples customers. It rewards the conditional mean, which is what BTYD predicts (an absolute
error would favour predicting zero for everyone). The challenger must reach
:data:`MINIMUM_R2` and beat the baseline "each customer repeats their calibration rate"
(``cal_frequency / cal_age_days`` per day). As for the recommender, the gate compares
*configurations*: the champion's purchase model and penalizer are refitted on the same
calibration data and scored on the same hold-out; the version registered is the chosen
configuration refitted on the full period, so the service knows every purchase up to the last
day. Unknown customers get the value of a customer whose first purchase is today.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mercato.settings import Settings, get_settings
from models.btyd import BetaGeoModel, GammaGammaModel, ParetoNBDModel
from models.family import Fitted, ModelFamily, Split
from models.gate import Evidence

if TYPE_CHECKING:
    from models.value_pyfunc import ClvModel

logger = logging.getLogger(__name__)

MODEL_NAME = "mercato_clv"
EXPERIMENT = "mercato_clv"
PRIMARY_METRIC = "holdout_r2"
#: Below this share of explained hold-out variance the purchase forecast is not worth serving.
MINIMUM_R2 = 0.05
#: Pareto/NBD is served only when its calibration log-likelihood is higher by this many nats.
PARETO_MIN_GAIN = 1.0
#: L2 penalty of Gamma-Gamma (0: plain maximum likelihood).
PENALIZER = 0.0
#: L2 penalties a purchase model is fitted with, in turn, until its forecasts are finite. Not
#: 0: on the shop data seen so far the plain maximum of BG/NBD lies on the edge of the
#: parameter space (a -> 0, b -> infinity: no dropout to speak of), where L-BFGS-B gives up and
#: the Nelder-Mead fallback of ``models.btyd`` takes minutes (255 s for one churn-baseline fit on
#: the real file); 0.001 (lifetimes' usual remedy) converges in 0.1 s and changes the hold-out
#: R^2 by less than 0.001 on the real and the generated data.
PENALIZERS = (0.001, 0.01, 0.1)
#: ``has_data`` asks for at least this many calibration customers with a repeat purchase.
MIN_REPEAT_CUSTOMERS = 20
#: Calibration-frequency buckets of the hold-out table: 0, 1, ..., 6 and 7+.
TOP_BUCKET = 7
PURCHASE_MODELS: dict[str, type[BetaGeoModel] | type[ParetoNBDModel]] = {
    "bgnbd": BetaGeoModel,
    "pareto_nbd": ParetoNBDModel,
}
#: The summary columns every model reads: the mart's full-period names.
SUMMARY_COLUMNS = ("frequency", "recency_days", "age_days", "monetary")
#: The mart's calibration columns, in the order of :data:`SUMMARY_COLUMNS`.
CALIBRATION_COLUMNS = ("cal_frequency", "cal_recency_days", "cal_age_days", "cal_monetary")


# -- data ------------------------------------------------------------------------------------
def build_clv_data(settings: Settings | None = None) -> pd.DataFrame:
    """Mart ``clv_customer_summary`` (read-only), one row per customer, ordered by id."""
    from warehouse import reader

    settings = settings or get_settings()
    frame = reader.query(settings, "select * from main.clv_customer_summary order by customer_id")
    frame["customer_id"] = frame["customer_id"].astype(str)
    return frame


def summary_of(frame: pd.DataFrame, columns: Sequence[str] = SUMMARY_COLUMNS) -> pd.DataFrame:
    """``customer_id`` and ``columns`` as the model's summary (:data:`SUMMARY_COLUMNS`), floats."""
    out = pd.DataFrame(
        {
            name: frame[col].astype(float).to_numpy()
            for name, col in zip(SUMMARY_COLUMNS, columns, strict=True)
        }
    )
    out.insert(0, "customer_id", frame["customer_id"].astype(str).to_numpy())
    return out


def calibration_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """The calibration summary of the customers known at ``calibration_end``."""
    known = frame[frame["in_calibration"].astype(bool)].reset_index(drop=True)
    return summary_of(known, CALIBRATION_COLUMNS)


# -- BTYD helpers ----------------------------------------------------------------------------
def _rft(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        summary["frequency"].to_numpy(dtype=float),
        summary["recency_days"].to_numpy(dtype=float),
        summary["age_days"].to_numpy(dtype=float),
    )


def _finite_forecasts(model: BetaGeoModel | ParetoNBDModel, summary: pd.DataFrame) -> bool:
    """Whether the model's forecasts are numbers for every row (a horizon as long as the
    oldest customer's age): at the edge of the parameter space (BG/NBD's ``a`` and ``b`` in
    the millions, no dropout to speak of) scipy's 2F1 overflows and the forecast is NaN."""
    x, t_x, age = _rft(summary)
    with np.errstate(all="ignore"):
        purchases = model.expected_purchases(max(float(age.max()), 1.0), x, t_x, age)
        alive = model.probability_alive(x, t_x, age)
    return bool(np.isfinite(purchases).all() and np.isfinite(alive).all())


def fit_purchase_model(
    kind: str, summary: pd.DataFrame, min_penalizer: float = PENALIZERS[0]
) -> BetaGeoModel | ParetoNBDModel:
    """Fit the purchase model ``kind`` (``bgnbd`` or ``pareto_nbd``) on a summary.

    The L2 penalty starts at ``min_penalizer`` (a champion's configuration gives its own) and
    rises through :data:`PENALIZERS` until the forecasts are finite for every customer. The
    penalty used is the model's ``penalizer``, recorded in the version's configuration.
    """
    if kind not in PURCHASE_MODELS:
        raise ValueError(f"unknown purchase model {kind!r}; choose one of {list(PURCHASE_MODELS)}")
    tried = [min_penalizer, *(p for p in PENALIZERS if p > min_penalizer)]
    for value in tried:
        model = PURCHASE_MODELS[kind](value).fit(*_rft(summary))
        if _finite_forecasts(model, summary):
            return model
    raise ValueError(
        f"{kind} gives no finite forecast on this summary even with penalizer {tried[-1]} "
        f"(parameters {model.params}): check the customer summaries"
    )


def fit_gamma_gamma(summary: pd.DataFrame, penalizer: float = PENALIZER) -> GammaGammaModel:
    """Gamma-Gamma on the customers with repeat purchases; refuses ``q <= 1`` (no finite mean
    spend: every customer's expected order value would be infinite)."""
    model = GammaGammaModel(penalizer).fit(summary["frequency"], summary["monetary"])
    if not model.params["q"] > 1:
        raise ValueError(
            f"Gamma-Gamma fitted q={model.params['q']:.3f} <= 1: spend per order has no finite "
            "mean on this data; raise the penalizer or check the order values"
        )
    return model


def choose_purchase_model(log_likelihoods: Mapping[str, float]) -> str:
    """BG/NBD unless Pareto/NBD's log-likelihood is higher by more than
    :data:`PARETO_MIN_GAIN` (same number of parameters: an AIC difference of twice that)."""
    bg, pareto = log_likelihoods.get("bgnbd"), log_likelihoods.get("pareto_nbd")
    if pareto is not None and bg is not None and pareto > bg + PARETO_MIN_GAIN:
        return "pareto_nbd"
    return "bgnbd"


def probability_no_purchase(
    model: BetaGeoModel, t: float, frequency: Any, recency: Any, T: Any
) -> np.ndarray:
    """P(no purchase in (T, T + t] | x, t_x, T) under BG/NBD.

    Dead customers buy nothing; an alive one buys nothing in the window with probability
    ``E[exp(-lambda t)]`` under the posterior ``lambda ~ Gamma(r + x, alpha + T)``, that is
    ``((alpha + T) / (alpha + T + t))^(r + x)`` (a dropout can only follow a purchase, so it
    does not enter). Hence ``1 - P(alive) + P(alive) ((alpha+T)/(alpha+T+t))^(r+x)``: the
    model's own probability of the churn label, where ``1 - P(alive)`` is only its "inactive
    now" part.
    """
    r, alpha, _, _ = (model.params[k] for k in BetaGeoModel.param_names)
    x, t_x, age = (np.asarray(v, dtype=float) for v in (frequency, recency, T))
    alive = model.probability_alive(x, t_x, age)
    silent = np.exp((r + x) * (np.log(alpha + age) - np.log(alpha + age + t)))
    return 1.0 - alive + alive * silent


def build_clv_model(
    summary: pd.DataFrame,
    config: Mapping[str, Any],
    horizon: float,
    discount_rate: float,
    as_of: str,
    purchase_model: BetaGeoModel | ParetoNBDModel | None = None,
    gamma_gamma: GammaGammaModel | None = None,
) -> ClvModel:
    """Fit ``config``'s purchase model and Gamma-Gamma on ``summary`` (unless given) and wrap."""
    from models.value_pyfunc import ClvModel

    penalizer = float(config.get("penalizer", PENALIZERS[0]))
    purchase = purchase_model or fit_purchase_model(config["purchase_model"], summary, penalizer)
    spend = gamma_gamma or fit_gamma_gamma(summary)
    return ClvModel(purchase, spend, summary, config, horizon, discount_rate, as_of)


# -- evaluation ------------------------------------------------------------------------------
def r2_statistic(actual: np.ndarray, predicted: np.ndarray):
    """``weights -> 1 - SSE/SST`` of ``predicted`` against ``actual`` (weighted mean in SST)."""
    a = np.asarray(actual, dtype=float)
    p = np.asarray(predicted, dtype=float)
    squared_error = (a - p) ** 2

    def statistic(weights: np.ndarray) -> float:
        total = float(weights.sum())
        if total <= 0:
            return float("nan")
        mean = float(weights @ a) / total
        sst = float(weights @ (a - mean) ** 2)
        return 1.0 - float(weights @ squared_error) / sst if sst > 0 else float("nan")

    return statistic


def r2_evidence(
    metrics: Mapping[str, float], actual: np.ndarray, predicted: np.ndarray
) -> Evidence:
    """The gate's view of a forecast: R^2 of per-customer hold-out purchases, resampleable."""
    return Evidence(dict(metrics), len(np.asarray(actual)), r2_statistic(actual, predicted))


def forecast_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """R^2, RMSE and MAE per customer, and the predicted and actual totals."""
    a, p = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    return {
        "holdout_r2": r2_statistic(a, p)(np.ones(len(a))),
        "holdout_rmse": float(np.sqrt(np.mean((a - p) ** 2))),
        "holdout_mae": float(np.mean(np.abs(a - p))),
        "predicted_total": float(p.sum()),
        "actual_total": float(a.sum()),
    }


def calibration_rate_baseline(summary: pd.DataFrame, days: float) -> np.ndarray:
    """Each customer repeats their calibration rate: ``frequency / age_days * days`` (0 for a
    customer whose first purchase was on the last calibration day: no rate to repeat)."""
    x, _, age = _rft(summary)
    return np.divide(x, age, out=np.zeros(len(x)), where=age > 0) * days


def bucket_labels(frequency: np.ndarray) -> np.ndarray:
    """``"0"``, ..., ``"6"``, ``"7+"`` for calibration frequencies."""
    f = np.asarray(frequency, dtype=int)
    return np.where(f >= TOP_BUCKET, f"{TOP_BUCKET}+", np.minimum(f, TOP_BUCKET).astype(str))


def bucket_table(
    frequency: np.ndarray, actual: np.ndarray, predictions: Mapping[str, np.ndarray]
) -> list[dict[str, Any]]:
    """Mean actual and predicted hold-out purchases per calibration-frequency bucket."""
    labels = bucket_labels(frequency)
    rows = []
    for label in [str(i) for i in range(TOP_BUCKET)] + [f"{TOP_BUCKET}+"]:
        mask = labels == label
        if not mask.any():
            continue
        row: dict[str, Any] = {
            "calibration_frequency": label,
            "customers": int(mask.sum()),
            "actual_mean": float(np.mean(actual[mask])),
        }
        row.update({f"{name}_mean": float(np.mean(p[mask])) for name, p in predictions.items()})
        rows.append(row)
    return rows


def holdout_days_of(split: Split) -> float:
    return float(split.info["holdout_days"])


def _bucket_figure(table: Sequence[Mapping[str, Any]], names: Sequence[str]):
    from models.tracking import figure

    fig, ax = figure(7, 4.5)
    labels = [row["calibration_frequency"] for row in table]
    positions = np.arange(len(labels))
    ax.plot(positions, [row["actual_mean"] for row in table], "ko-", label="actual", linewidth=2)
    for name in names:
        ax.plot(positions, [row[f"{name}_mean"] for row in table], marker="s", label=name)
    ax.set_xticks(positions, labels)
    ax.set(
        xlabel="repeat purchase days in the calibration period",
        ylabel="mean purchase days in the hold-out",
        title="Predicted vs actual purchases in the hold-out",
    )
    ax.legend()
    return fig


class ClvFamily(ModelFamily):
    """Customer value: BG/NBD (or Pareto/NBD) with Gamma-Gamma, gated on hold-out R^2."""

    name = "clv"
    registered_model = MODEL_NAME
    experiment = EXPERIMENT
    reads = "mart clv_customer_summary (calibration and hold-out split in time by dbt)"
    metric = PRIMARY_METRIC
    higher_is_better = True
    minimum = MINIMUM_R2
    chance = 0.0
    api = "serving.apis.customer_value"
    summary = "expected purchases, P(active), spend and lifetime value (BG/NBD, Gamma-Gamma)"

    def __init__(self, candidates: Sequence[str] = tuple(PURCHASE_MODELS)) -> None:
        unknown = set(candidates) - set(PURCHASE_MODELS)
        if unknown or "bgnbd" not in candidates:
            raise ValueError(f"candidates must include bgnbd and be among {list(PURCHASE_MODELS)}")
        self.candidates = tuple(candidates)

    def has_data(self, settings: Settings) -> bool:
        """A calibration period with enough repeat buyers to fit on."""
        from warehouse import reader

        rows = reader.query_if_built(
            settings, "select count(*) as n from main.clv_customer_summary where cal_frequency > 0"
        )
        if rows is None:
            return False
        return int(rows["n"].iloc[0]) >= MIN_REPEAT_CUSTOMERS

    def load_data(self, settings: Settings) -> pd.DataFrame:
        return build_clv_data(settings)

    def split(self, data: pd.DataFrame, settings: Settings) -> Split:
        calibration = calibration_summary(data)
        if int((calibration["frequency"] > 0).sum()) < MIN_REPEAT_CUSTOMERS:
            raise ValueError(
                f"fewer than {MIN_REPEAT_CUSTOMERS} customers with a repeat purchase before "
                "calibration_end: the data span is too short for the hold-out"
            )
        known = data[data["in_calibration"].astype(bool)].reset_index(drop=True)
        holdout = pd.DataFrame(
            {
                "customer_id": known["customer_id"].astype(str),
                "frequency": calibration["frequency"],
                "holdout_frequency": known["holdout_frequency"].astype(float),
                "holdout_amount": known["holdout_amount"].astype(float),
            }
        )
        info = {
            "calibration_end": str(pd.Timestamp(data["calibration_end"].iloc[0]).date()),
            "observation_end": str(pd.Timestamp(data["observation_end"].iloc[0]).date()),
            "holdout_days": int(data["holdout_days"].iloc[0]),
            "unit": "days",
            "n_customers": len(data),
            "n_calibration_customers": len(calibration),
        }
        return Split(calibration, holdout, data.reset_index(drop=True), info)

    def fit(self, split: Split, settings: Settings) -> Fitted:
        """Fit the candidates on the calibration period, choose, refit on the full period."""
        calibration, days = split.train, holdout_days_of(split)
        horizon, rate = float(settings.clv_horizon_days), float(settings.clv_discount_rate)
        fits: dict[str, Any] = {}
        seconds: dict[str, float] = {}
        for kind in self.candidates:
            started = time.perf_counter()
            fits[kind] = fit_purchase_model(kind, calibration)
            seconds[kind] = time.perf_counter() - started
        started = time.perf_counter()
        spend = fit_gamma_gamma(calibration)
        seconds["gamma_gamma"] = time.perf_counter() - started
        chosen = choose_purchase_model({k: m.log_likelihood for k, m in fits.items()})
        config = {"purchase_model": chosen, "penalizer": fits[chosen].penalizer}
        judged = build_clv_model(
            calibration,
            config,
            horizon,
            rate,
            split.info["calibration_end"],
            purchase_model=fits[chosen],
            gamma_gamma=spend,
        )
        actual = split.holdout["holdout_frequency"].to_numpy(dtype=float)
        predictions = {k: m.expected_purchases(days, *_rft(calibration)) for k, m in fits.items()}
        predictions["calibration_rate"] = calibration_rate_baseline(calibration, days)
        comparison = {k: forecast_metrics(actual, p) for k, p in predictions.items()}
        revenue = {
            "actual": float(split.holdout["holdout_amount"].sum()),
            **{
                k: float((p * spend.conditional_expected_value(*_xm(calibration))).sum())
                for k, p in predictions.items()
                if k in fits
            },
        }
        started = time.perf_counter()
        served = build_clv_model(
            summary_of(split.data), config, horizon, rate, split.info["observation_end"]
        )
        seconds["served_refit"] = time.perf_counter() - started
        clv_by_customer = served.clv_by_customer()
        served.segment_means = segment_means(settings, lambda _: clv_by_customer)
        repeaters = calibration[(calibration["frequency"] > 0) & (calibration["monetary"] > 0)]
        params = {
            "purchase_model": chosen,
            "candidates": ",".join(self.candidates),
            "penalizer": config["penalizer"],
            "served.penalizer": served.purchase_model.penalizer,
            "horizon_days": horizon,
            "annual_discount_rate": rate,
            **{f"{k}.{p}": v for k, m in fits.items() for p, v in m.params.items()},
            **{f"gamma_gamma.{p}": v for p, v in spend.params.items()},
            **{f"served.{p}": v for p, v in served.purchase_model.params.items()},
            **{f"served.gamma_gamma.{p}": v for p, v in served.gamma_gamma.params.items()},
        }
        metrics = {
            **{f"{k}.calibration_log_likelihood": m.log_likelihood for k, m in fits.items()},
            "gamma_gamma.corr_frequency_monetary": float(
                repeaters["frequency"].corr(repeaters["monetary"])
            )
            if len(repeaters) > 2
            else float("nan"),
            "population_mean_order_value": spend.population_mean_value(),
            "holdout_revenue_actual": revenue["actual"],
            "holdout_revenue_predicted": revenue[chosen],
            "served_mean_clv": float(np.mean(list(clv_by_customer.values()))),
        }
        metrics = {k: float(v) for k, v in metrics.items() if np.isfinite(v)}
        return Fitted(
            model=judged,
            served=served,
            input_example=summary_of(split.data).head(3)[list(SUMMARY_COLUMNS)],
            params=params,
            metrics=metrics,
            floor=comparison["calibration_rate"]["holdout_r2"],
            # part of the training key: a version is reused only for the same knobs
            tags={
                "purchase_model": chosen,
                "penalizer": config["penalizer"],
                "clv_horizon_days": horizon,
                "clv_discount_rate": rate,
                "clv_holdout_days": split.info["holdout_days"],
                "segmentation_version": served.segment_means.get("segmentation_version", ""),
            },
            details={
                "purchase_model": chosen,
                "comparison": comparison,
                "buckets": bucket_table(calibration["frequency"].to_numpy(), actual, predictions),
                "revenue": revenue,
                "params": {
                    **{k: m.summary_dict() for k, m in fits.items()},
                    "gamma_gamma": spend.summary_dict(),
                    "served": {
                        chosen: served.purchase_model.summary_dict(),
                        "gamma_gamma": served.gamma_gamma.summary_dict(),
                    },
                },
                "fit_seconds": seconds,
                "segment_means": served.segment_means,
            },
            run_name=f"clv-{chosen}",
            state={"fits": fits},
        )

    def evaluate(self, model: Any, split: Split, fitted: Fitted) -> Evidence:
        """R^2 (and errors) of the model's hold-out purchases for the calibration customers."""
        actual = split.holdout["holdout_frequency"].to_numpy(dtype=float)
        predicted = model.expected_holdout_purchases(split.train, holdout_days_of(split))
        return r2_evidence(forecast_metrics(actual, predicted), actual, predicted)

    def groups(self, split: Split, settings: Settings) -> dict[str, Any]:
        """Country group and tenure cohort of each calibration customer at calibration end."""
        from models.fairness import customer_groups

        as_of = pd.Timestamp(split.info["calibration_end"])
        return customer_groups(settings, split.holdout["customer_id"], as_of)

    def evaluate_champion(self, champion: Any, split: Split, fitted: Fitted) -> Evidence:
        """The champion's configuration refitted on this calibration period, like the
        challenger (the champion itself was refitted on data that may cover this hold-out)."""
        config = dict(getattr(champion, "config", {}) or {"purchase_model": "bgnbd"})
        if config == fitted.model.config:
            return self.evaluate(fitted.model, split, fitted)
        refit = build_clv_model(
            split.train,
            config,
            fitted.model.horizon_days,
            fitted.model.annual_discount_rate,
            split.info["calibration_end"],
        )
        return self.evaluate(refit, split, fitted)

    def log(self, fitted: Fitted, split: Split) -> None:
        import mlflow

        from models import tracking

        details = fitted.details
        for name, values in details["comparison"].items():
            mlflow.log_metrics({f"{name}.{k}": v for k, v in values.items() if np.isfinite(v)})
        # timings are logged here, not in ``Fitted.metrics``: those key the version (idempotence)
        mlflow.log_metrics({f"{k}.fit_seconds": v for k, v in details["fit_seconds"].items()})
        mlflow.log_dict(details["params"], "btyd_params.json")
        mlflow.log_dict(
            {k: details[k] for k in ("comparison", "buckets", "revenue", "purchase_model")},
            "holdout.json",
        )
        if details["segment_means"]:
            mlflow.log_dict(details["segment_means"], "segment_means.json")
        names = [n for n in details["comparison"] if n != "calibration_rate"]
        figure = _bucket_figure(details["buckets"], [*names, "calibration_rate"])
        tracking.log_figure(figure, "holdout_by_frequency.png")


def _xm(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return summary["frequency"].to_numpy(dtype=float), summary["monetary"].to_numpy(dtype=float)


# -- segment profiles ------------------------------------------------------------------------
def latest_segments(settings: Settings) -> tuple[str, pd.DataFrame, dict[str, int]] | None:
    """(segmentation champion version, mart ``customer_features`` at its latest snapshot,
    ``{customer_id: segment}``), or None without a segmentation champion or a warehouse."""
    from models import registry
    from models.segmentation import MODEL_NAME as SEGMENTATION
    from warehouse import reader

    if not settings.warehouse_path.exists():
        return None
    version = registry.champion_version(settings, SEGMENTATION)
    if version is None:
        return None
    model = registry.load_version(settings, SEGMENTATION, version)
    features = reader.query(
        settings,
        """
        select * from main.customer_features
        where snapshot_at = (select max(snapshot_at) from main.customer_features)
        order by customer_id
        """,
    )
    features["customer_id"] = features["customer_id"].astype(str)
    x = features.reindex(columns=list(model.feature_names)).astype(float).fillna(0.0).to_numpy()
    labels = model.assign_many(x) if len(x) else np.empty(0, dtype=int)
    segments = {c: int(s) for c, s in zip(features["customer_id"], labels, strict=True)}
    return str(version), features, segments


def means_by_segment(
    segments: Mapping[str, int], values: Mapping[str, float], version: str
) -> dict[str, Any]:
    """``{"segmentation_version", "segments": {id: {"mean", "customers"}}}`` over the
    customers that have both a segment and a value."""
    totals: dict[int, list[float]] = {}
    for customer, segment in segments.items():
        value = values.get(customer)
        if value is not None and math.isfinite(value):
            totals.setdefault(segment, []).append(value)
    return {
        "segmentation_version": version,
        "segments": {
            str(seg): {"mean": float(np.mean(v)), "customers": len(v)}
            for seg, v in sorted(totals.items())
        },
    }


def segment_means(
    settings: Settings, values_of: Callable[[pd.DataFrame], Mapping[str, float]]
) -> dict[str, Any]:
    """Mean of a per-customer value over each segment of the segmentation champion, for the
    segment profiles; ``values_of(latest customer features)`` gives the values. ``{}`` when
    there is no segmentation champion, or it cannot be read: the profile values are a
    by-product that must never fail a training."""
    try:
        found = latest_segments(settings)
        if found is None:
            return {}
        version, features, segments = found
        return means_by_segment(segments, values_of(features), version)
    except Exception:  # noqa: BLE001 - logged; the segment profiles then go without the value
        logger.warning("per-segment means skipped", exc_info=True)
        return {}


FAMILY = ClvFamily(candidates=("bgnbd",))
