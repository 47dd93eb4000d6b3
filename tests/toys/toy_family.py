"""A toy model family that lives in the test tree only: expected spend per order by country.

It exists to prove that a family declared outside Mercato's code (``MERCATO_EXTRA_FAMILIES=
toy=toy_family`` with this folder on ``PYTHONPATH``) is trained by the pipeline, listed by the
CLI, scheduled by the training DAG and served by the HTTP service, with no shipped file edited.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel
from pydantic import BaseModel, ConfigDict, Field

from mercato.settings import Settings
from models.family import Fitted, ModelFamily, Split
from models.gate import Evidence, mean_evidence
from serving.apis import Endpoint

MODEL_NAME = "mercato_toy"


class SpendModel(PythonModel):
    """Mean spend per order of each country's customers; the overall mean elsewhere."""

    def __init__(self, by_country: dict[str, float], overall: float) -> None:
        self.by_country = by_country
        self.overall = overall

    def predict_spend(self, country: str) -> float:
        return float(self.by_country.get(country, self.overall))

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> Any:
        return pd.DataFrame({"spend": [self.predict_spend(str(c)) for c in model_input["country"]]})


def _spend(frame: pd.DataFrame) -> pd.Series:
    return frame["monetary"].astype(float) / frame["n_orders"].clip(lower=1)


class ToyFamily(ModelFamily):
    name = "toy"
    registered_model = MODEL_NAME
    experiment = MODEL_NAME
    reads = "mart dim_customers"
    metric = "neg_mae"
    higher_is_better = True
    api = "toy_family"
    summary = "expected spend per order by country (a toy family from the test tree)"

    def load_data(self, settings: Settings) -> pd.DataFrame:
        from warehouse import reader

        return reader.query(
            settings, "select customer_id, country, n_orders, monetary from main.dim_customers"
        )

    def split(self, data: pd.DataFrame, settings: Settings) -> Split:
        data = data.sort_values("customer_id").reset_index(drop=True)
        hold = np.random.default_rng(settings.seed).random(len(data)) < 0.25
        return Split(data[~hold], data[hold].reset_index(drop=True), data, {"n": len(data)})

    def fit(self, split: Split, settings: Settings) -> Fitted:
        spend = _spend(split.train)
        by_country = spend.groupby(split.train["country"]).mean().to_dict()
        model = SpendModel({str(k): float(v) for k, v in by_country.items()}, float(spend.mean()))
        return Fitted(
            model=model,
            input_example=pd.DataFrame({"country": ["United Kingdom"]}),
            params={"countries": len(by_country)},
        )

    def evaluate(self, model: Any, split: Split, fitted: Fitted) -> Evidence:
        holdout = split.holdout
        predicted = np.array([model.predict_spend(str(c)) for c in holdout["country"]])
        errors = -np.abs(predicted - _spend(holdout).to_numpy())
        return mean_evidence({"neg_mae": float(errors.mean())}, errors)


FAMILY = ToyFamily()


# -- its HTTP endpoint -------------------------------------------------------------------------
class ToySpendRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    country: str = Field(min_length=1, max_length=64, description="A country name.")


class ToySpendResponse(BaseModel):
    country: str
    expected_spend: float
    model_version: str


def toy_spend(core: Any, req: ToySpendRequest) -> ToySpendResponse:
    m = core.model(MODEL_NAME)
    return ToySpendResponse(
        country=req.country,
        expected_spend=m.model.predict_spend(req.country),
        model_version=m.version,
    )


REQUIRES = ("predict_spend",)
ENDPOINTS = [
    Endpoint(
        "toy_spend",
        ToySpendRequest,
        ToySpendResponse,
        toy_spend,
        "Expected spend per order of a country's customers",
        example={"country": "United Kingdom"},
    )
]
