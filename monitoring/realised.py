"""Realised performance: the champion's own past predictions scored once their labels mature.

Every monitor run writes the predictions it made for the newest snapshot to
``<home>/monitoring/predictions/<family>/<as_of>.parquet`` (``customer_id``, ``score``,
``as_of``, ``model_version``). A later run joins each file whose labels have matured (the
labels mart has rows for that snapshot: propensity after its horizon, churn after its N days)
with the labels and scores them: ROC-AUC, base rate and mean score (calibration in the large).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: family -> (labels mart, what "label = 1" means), for the families whose labels mature.
LABEL_MARTS: dict[str, str] = {"propensity": "propensity_labels", "churn": "churn_labels"}


@dataclass(frozen=True)
class Realised:
    """One earlier prediction file scored against its matured labels."""

    family: str
    as_of: str
    model_version: str
    n: int
    roc_auc: float | None
    base_rate: float
    mean_score: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def predictions_dir(home: Path, family: str) -> Path:
    return home / "monitoring" / "predictions" / family


def write_predictions(
    home: Path, family: str, customer_ids: Any, scores: Any, as_of: pd.Timestamp, version: str
) -> Path:
    """Keep one snapshot's predictions (rewritten if the same snapshot is predicted again)."""
    frame = pd.DataFrame(
        {
            "customer_id": pd.Series(customer_ids).astype(str).to_numpy(),
            "score": np.asarray(scores, dtype=float),
            "as_of": pd.Timestamp(as_of),
            "model_version": str(version),
        }
    )
    folder = predictions_dir(home, family)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{pd.Timestamp(as_of):%Y%m%dT%H%M%S}.parquet"
    tmp = path.with_suffix(".parquet.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


def read_predictions(home: Path, family: str) -> list[pd.DataFrame]:
    """Every kept prediction file of ``family``, oldest first."""
    folder = predictions_dir(home, family)
    return [pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))] if folder.is_dir() else []


def score_matured(family: str, predictions: pd.DataFrame, labels: pd.DataFrame) -> Realised | None:
    """Join one prediction file with the labels of its snapshot (``customer_id``,
    ``snapshot_at``, ``label``); ``None`` while no label of that snapshot exists yet."""
    from sklearn.metrics import roc_auc_score

    as_of = pd.Timestamp(predictions["as_of"].iloc[0])
    at = labels[pd.to_datetime(labels["snapshot_at"]) == as_of]
    if at.empty:
        return None
    joined = predictions.merge(
        at[["customer_id", "label"]].astype({"customer_id": str}), on="customer_id"
    )
    if joined.empty:
        return None
    y = joined["label"].astype(int).to_numpy()
    s = joined["score"].astype(float).to_numpy()
    auc = float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else None
    return Realised(
        family,
        str(as_of),
        str(joined["model_version"].iloc[0]),
        len(joined),
        auc,
        float(y.mean()),
        float(s.mean()),
    )
