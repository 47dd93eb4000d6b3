"""The served uplift model: one learner per campaign arm, and every known customer's attributes.

``UpliftModel`` is what ``mercato_uplift`` registers. It knows each campaign's treated arms and
control, holds the fitted learner of each arm (``models.uplift``), and keeps the latest
attributes of every customer seen in any campaign as one feature matrix, so ``/uplift`` and the
planner answer by lookup and one vectorised prediction (no feature store involved: the
attributes are what the campaign data delivered, as of training). ``calibration`` holds the
hold-out's realised / predicted effect by targeted share, for the planner's interval.

This module imports MLflow at top level: import it only where a model is trained or loaded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel


class UnknownCampaign(KeyError):
    """A campaign the model was not trained on (the message names the known ones)."""

    def __str__(self) -> str:
        return str(self.args[0])


class UpliftModel(PythonModel):
    """Predicted conversion uplift per (campaign, treated arm) for known or given customers."""

    def __init__(
        self,
        learners: Mapping[tuple[str, str], Any],
        arms: Mapping[str, Mapping[str, Any]],
        customers: pd.DataFrame,
        algorithm: str,
    ) -> None:
        from models.uplift import feature_matrix

        self.learners = dict(learners)
        self.arms = {
            c: {"treatments": list(a["treatments"]), "control": a["control"]}
            for c, a in arms.items()
        }
        self.algorithm = algorithm
        self.customer_ids = customers["customer_id"].astype(str).to_numpy(dtype=object)
        self._index = {c: i for i, c in enumerate(self.customer_ids)}
        self.x = feature_matrix(customers)
        #: per campaign: realised / predicted effect by targeted share (``plan_calibration``)
        self.calibration: dict[str, dict[str, list[float]]] = {}
        #: per campaign: every known customer's predicted uplift per arm (see ``precompute``)
        self._known: dict[str, np.ndarray] = {}

    def precompute(self) -> None:
        """Predict every known customer's uplift for every campaign once, so a request for a
        known customer (and a plan) is a lookup: the attributes are fixed at training."""
        self._known = {}
        self._known = {
            c: self.uplift_matrix(c, np.arange(len(self.customer_ids))) for c in self.campaigns
        }

    # -- serving contract -------------------------------------------------------------------
    @property
    def campaigns(self) -> list[str]:
        return sorted(self.arms)

    def treatments(self, campaign: str) -> list[str]:
        """The campaign's treated arms; :class:`UnknownCampaign` when it is not known."""
        arms = self.arms.get(campaign)
        if arms is None:
            raise UnknownCampaign(
                f"unknown campaign {campaign!r}; the model knows {', '.join(self.campaigns)}"
            )
        return list(arms["treatments"])

    def known_customer(self, customer_id: str) -> bool:
        return str(customer_id) in self._index

    def predict_uplift(self, campaign: str, treatment: str, x: np.ndarray) -> np.ndarray:
        """Predicted uplift of feature rows under one arm; 0 for an arm the model lacks."""
        learner = self.learners.get((campaign, treatment))
        if learner is None:
            return np.zeros(len(x))
        return np.asarray(learner.predict(np.asarray(x, dtype=np.float64)), dtype=float)

    def uplift_matrix(self, campaign: str, rows: np.ndarray) -> np.ndarray:
        """(len(rows), n_arms) predicted uplift of known customers (rows of :attr:`x`)."""
        known = getattr(self, "_known", {}).get(campaign)
        if known is not None:
            return known[rows]
        x = self.x[rows]
        return (
            np.column_stack(
                [self.predict_uplift(campaign, t, x) for t in self.treatments(campaign)]
            )
            if len(rows)
            else np.zeros((0, len(self.treatments(campaign))))
        )

    def uplift_many(
        self, customer_ids: Sequence[str], campaign: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """(uplift (n, n_arms) with NaN for unknown customers, known mask (n,))."""
        arms = self.treatments(campaign)
        index = [self._index.get(str(c), -1) for c in customer_ids]
        known = np.array([i >= 0 for i in index], dtype=bool)
        out = np.full((len(index), len(arms)), np.nan)
        if known.any():
            out[known] = self.uplift_matrix(campaign, np.array(index)[known])
        return out, known

    def uplift(self, customer_id: str, campaign: str) -> dict[str, float] | None:
        """Predicted uplift per arm for one customer; ``None`` when the customer is unknown."""
        values, known = self.uplift_many([customer_id], campaign)
        if not known[0]:
            return None
        return dict(zip(self.treatments(campaign), map(float, values[0]), strict=True))

    # -- pyfunc -----------------------------------------------------------------------------
    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None):
        """Rows with ``campaign``, ``treatment`` and attribute columns in; ``uplift`` out."""
        from models.uplift import feature_matrix

        frame = model_input.reset_index(drop=True)
        x = feature_matrix(frame)
        out = np.zeros(len(frame))
        for (campaign, treatment), rows in frame.groupby(["campaign", "treatment"]).indices.items():
            out[rows] = self.predict_uplift(str(campaign), str(treatment), x[rows])
        return pd.DataFrame({"uplift": out})
