"""The served objects of the customer-value families (``models.clv``, ``models.churn``).

Like ``models.pyfunc`` (which this module extends), it imports MLflow at top level: import it
only where a model is trained or loaded. Every per-request method is a dictionary lookup or a
few NumPy operations on arrays built when the model was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from models.btyd import BetaGeoModel, GammaGammaModel, ParetoNBDModel, customer_lifetime_value
from models.clv import SUMMARY_COLUMNS
from models.pyfunc import PropensityModel

#: What :class:`ClvModel` answers per customer, in this order.
CLV_OUTPUTS = (
    "expected_purchases",
    "probability_active",
    "expected_order_value",
    "expected_spend",
    "clv",
)
DAYS_PER_YEAR = 365.25
#: Cash is discounted at the end of each month of the horizon.
CASH_STEP_DAYS = DAYS_PER_YEAR / 12
#: Churn risk bands: (upper bound, name), checked in order; the last one has no upper bound.
CHURN_BANDS: tuple[tuple[float, str], ...] = ((1 / 3, "low"), (2 / 3, "medium"), (1.0, "high"))


def _rft(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        summary["frequency"].to_numpy(dtype=float),
        summary["recency_days"].to_numpy(dtype=float),
        summary["age_days"].to_numpy(dtype=float),
    )


class ClvModel(PythonModel):
    """A purchase model (BG/NBD or Pareto/NBD) and Gamma-Gamma, with every known customer's
    value precomputed from the summary it was fitted on.

    ``config`` (purchase model, penalizer) is what the gate compares; ``as_of`` is the last day
    the summary covers. :meth:`value` is a lookup; a customer the summary does not hold gets
    :attr:`new_customer`: the value of a customer whose first purchase is on ``as_of`` (the
    documented default for unknown customers).
    """

    def __init__(
        self,
        purchase_model: BetaGeoModel | ParetoNBDModel,
        gamma_gamma: GammaGammaModel,
        summary: pd.DataFrame,
        config: Mapping[str, Any],
        horizon_days: float,
        annual_discount_rate: float,
        as_of: str,
    ) -> None:
        if horizon_days <= 0:
            raise ValueError(f"the CLV horizon must be positive, got {horizon_days} days")
        if annual_discount_rate <= -1:
            raise ValueError(f"the discount rate must be above -1, got {annual_discount_rate}")
        self.purchase_model = purchase_model
        self.gamma_gamma = gamma_gamma
        self.config = dict(config)
        self.algorithm = str(self.config.get("purchase_model", "bgnbd"))
        self.horizon_days = float(horizon_days)
        self.annual_discount_rate = float(annual_discount_rate)
        self.as_of = str(as_of)
        #: mean CLV per segment of the segmentation champion at training time (see
        #: ``models.clv.segment_means``); ``{}`` without one
        self.segment_means: dict[str, Any] = {}
        self.customer_ids = summary["customer_id"].astype(str).to_numpy(dtype=object)
        self._index = {c: i for i, c in enumerate(self.customer_ids)}
        self._values = self.predict_summary(summary)[list(CLV_OUTPUTS)].to_numpy(np.float64)
        new = pd.DataFrame({name: [0.0] for name in SUMMARY_COLUMNS})
        self.new_customer = {k: float(v) for k, v in self.predict_summary(new).iloc[0].items()}

    @property
    def daily_discount_rate(self) -> float:
        """The annual rate as a rate per day: ``(1 + annual)^(1/365.25) - 1``."""
        return (1.0 + self.annual_discount_rate) ** (1.0 / DAYS_PER_YEAR) - 1.0

    def predict_summary(self, summary: pd.DataFrame) -> pd.DataFrame:
        """Every output for summary rows (:data:`SUMMARY_COLUMNS`, days) over the horizon."""
        x, t_x, age = _rft(summary)
        monetary = summary["monetary"].to_numpy(dtype=float)
        purchases = self.purchase_model.expected_purchases(self.horizon_days, x, t_x, age)
        order_value = self.gamma_gamma.conditional_expected_value(x, monetary)
        clv = customer_lifetime_value(
            self.purchase_model,
            self.gamma_gamma,
            summary.reset_index(drop=True),
            self.horizon_days,
            self.daily_discount_rate,
            step=min(CASH_STEP_DAYS, self.horizon_days),
            columns={"recency": "recency_days", "T": "age_days"},
        )
        return pd.DataFrame(
            {
                "expected_purchases": purchases,
                "probability_active": self.purchase_model.probability_alive(x, t_x, age),
                "expected_order_value": order_value,
                "expected_spend": purchases * order_value,
                "clv": clv.to_numpy(),
            }
        )

    def expected_holdout_purchases(self, summary: pd.DataFrame, days: float) -> np.ndarray:
        """Expected purchase days in the ``days`` after each summary row's period."""
        return self.purchase_model.expected_purchases(days, *_rft(summary))

    # -- serving contract ----------------------------------------------------------------------
    def known_customer(self, customer_id: str) -> bool:
        """Whether the customer has a purchase in the data the model summarises."""
        return str(customer_id) in self._index

    def value(self, customer_id: str) -> dict[str, float] | None:
        """The customer's :data:`CLV_OUTPUTS`; ``None`` for a customer the model does not know
        (callers answer with :attr:`new_customer`)."""
        i = self._index.get(str(customer_id))
        if i is None:
            return None
        return dict(zip(CLV_OUTPUTS, self._values[i].tolist(), strict=True))

    def values_many(self, customer_ids: Sequence[str]) -> list[dict[str, float] | None]:
        return [self.value(c) for c in customer_ids]

    def clv_by_customer(self) -> dict[str, float]:
        """``{customer_id: clv}`` for every known customer."""
        column = CLV_OUTPUTS.index("clv")
        return dict(zip(self.customer_ids, self._values[:, column].tolist(), strict=True))

    # -- pyfunc --------------------------------------------------------------------------------
    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None):
        """Summary columns (:data:`SUMMARY_COLUMNS`) in, :data:`CLV_OUTPUTS` out."""
        return self.predict_summary(model_input.reset_index(drop=True))


def band_of(probability: float, bands: Sequence[tuple[float, str]] = CHURN_BANDS) -> str:
    """The first band whose upper bound is above ``probability``; the last band takes the
    rest (``low`` below 1/3, ``medium`` below 2/3, ``high`` from 2/3 on, by default)."""
    for upper, name in bands[:-1]:
        if probability < upper:
            return name
    return bands[-1][1]


class ChurnModel(PropensityModel):
    """The logistic churn model as plain arrays, with its horizon and its risk bands.

    ``predict_proba_many`` is P(no purchase within ``horizon_days``) per row ordered as
    ``feature_names``; :meth:`band` names a probability's band. ``segment_means`` holds the mean
    churn risk per segment of the segmentation champion at training time, ``{}`` without one.
    """

    def __init__(
        self,
        logistic: PropensityModel,
        horizon_days: int,
        bands: Sequence[tuple[float, str]] = CHURN_BANDS,
    ) -> None:
        super().__init__(
            logistic.feature_names,
            logistic.log_features,
            logistic.mean,
            logistic.scale,
            logistic.coef,
            logistic.intercept,
        )
        self.horizon_days = int(horizon_days)
        self.bands = [(float(upper), str(name)) for upper, name in bands]
        self.segment_means: dict[str, Any] = {}

    def band(self, probability: float) -> str:
        """``low``, ``medium`` or ``high`` (the bands this version was trained with)."""
        return band_of(probability, self.bands)

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None):
        p = self.predict_proba_many(self._matrix(model_input))
        return pd.DataFrame({"churn_risk": p, "band": [self.band(v) for v in p]})
