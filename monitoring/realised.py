"""Realised performance: the champion's own past predictions scored once their labels mature.

Every monitor run writes the predictions it made for the newest snapshot to
``<home>/monitoring/predictions/<family>/<as_of>.parquet`` (``customer_id``, ``score``,
``as_of``, ``model_version``). A later run labels each file whose horizon the data now covers
(propensity: an order in ``[as_of, as_of + horizon)``; churn: none in its N days), with the
rules of marts ``propensity_labels`` and ``churn_labels`` applied to ``fct_order_lines``
(the marts' snapshot grid is counted back from the newest order, so it moves as data
arrives and cannot be joined on), and scores it: ROC-AUC, base rate and mean score
(calibration in the large).

A recommender's predictions are its top-k lists (one row per customer and rank). They mature
once the data covers ``holdout_days`` after them, and are judged like the gate judges a hold-out
(``models.recommendation``): the products each customer bought in that window and had not bought
before, NDCG/precision/recall@k over the customers who bought any, beside the popularity
method refitted on the orders up to the same moment (the simple baseline every recommender
must beat).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: family -> whether label 1 means "bought within the horizon" (propensity) or "did not" (churn)
LABELLED: dict[str, bool] = {"propensity": True, "churn": False}
#: families whose predictions are top-k product lists, judged on the purchases that followed
RANKED: frozenset[str] = frozenset({"recommendation"})


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
    return _keep(home, family, frame, as_of)


def _keep(home: Path, family: str, frame: pd.DataFrame, as_of: pd.Timestamp) -> Path:
    """Write one moment's predictions as ``<as_of>.parquet`` (atomically: a reader never sees
    half a file), replacing an earlier file of the same moment."""
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


def labels_at(
    orders: pd.DataFrame,
    customer_ids: pd.Series,
    as_of: pd.Timestamp,
    horizon_days: int,
    bought_is_positive: bool,
) -> pd.Series | None:
    """Each customer's label for a prediction made at ``as_of``, from the non-cancelled orders
    (``customer_id``, ``ordered_at``); ``None`` while the data does not cover the horizon (the
    marts' rule: ``as_of + horizon`` <= the day after the newest order)."""
    ordered = pd.to_datetime(orders["ordered_at"])
    data_end = ordered.max().normalize() + pd.Timedelta(days=1)
    end = as_of + pd.Timedelta(days=horizon_days)
    if pd.isna(data_end) or end > data_end:
        return None
    window = orders[(ordered >= as_of) & (ordered < end)]
    bought = customer_ids.astype(str).isin(set(window["customer_id"].astype(str)))
    return (bought if bought_is_positive else ~bought).astype(int)


def score_matured(
    family: str, predictions: pd.DataFrame, orders: pd.DataFrame, horizon_days: int
) -> Realised | None:
    """One prediction file scored against its labels; ``None`` while they have not matured."""
    from sklearn.metrics import roc_auc_score

    as_of = pd.Timestamp(predictions["as_of"].iloc[0])
    labels = labels_at(orders, predictions["customer_id"], as_of, horizon_days, LABELLED[family])
    if labels is None or predictions.empty:
        return None
    y = labels.to_numpy()
    s = predictions["score"].astype(float).to_numpy()
    auc = float(roc_auc_score(y, s)) if len(np.unique(y)) == 2 else None
    return Realised(
        family,
        str(as_of),
        str(predictions["model_version"].iloc[0]),
        len(predictions),
        auc,
        float(y.mean()),
        float(s.mean()),
    )


@dataclass(frozen=True)
class RealisedTopK:
    """One earlier file of top-k lists scored against the purchases that followed it.

    ``n`` counts the customers who were given a list and bought a product new to them in the
    window (the only ones a list can be judged on); ``metrics`` and ``popularity`` hold
    ``ndcg_at_k``, ``precision_at_k`` and ``recall_at_k`` of the champion's lists and of the
    popularity baseline for the same customers (empty when ``n`` is 0).
    """

    family: str
    as_of: str
    model_version: str
    k: int
    customers: int
    n: int
    metrics: dict[str, float]
    popularity: dict[str, float]

    @property
    def lift(self) -> float | None:
        """The champion's NDCG@k over popularity's (None when either is missing or zero)."""
        ours = self.metrics.get(f"ndcg_at_{self.k}")
        base = self.popularity.get(f"ndcg_at_{self.k}")
        return ours / base if ours is not None and base else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "lift": self.lift}


def write_ranked(
    home: Path,
    family: str,
    customer_ids: Any,
    lists: list[list[str]],
    as_of: pd.Timestamp,
    version: str,
) -> Path:
    """Keep one moment's top-k lists, one row per (customer, rank)."""
    ids = [str(c) for c in customer_ids]
    frame = pd.DataFrame(
        {
            "customer_id": [c for c, items in zip(ids, lists, strict=True) for _ in items],
            "rank": [r for items in lists for r in range(1, len(items) + 1)],
            "item_id": [str(i) for items in lists for i in items],
        }
    )
    frame["as_of"] = pd.Timestamp(as_of)
    frame["model_version"] = str(version)
    return _keep(home, family, frame, as_of)


def score_ranked(
    family: str,
    predictions: pd.DataFrame,
    interactions: pd.DataFrame,
    horizon_days: int,
    k: int,
) -> RealisedTopK | None:
    """One file of top-k lists against the purchases (``user_id``, ``item_id``, ``timestamp``:
    ``models.recommendation``'s interactions) in ``(as_of, as_of + horizon)``; ``None`` while
    the data does not cover the window (the rule of :func:`labels_at`)."""
    from models.metrics import evaluate_topk
    from models.recommendation import fit_candidate, holdout_truth

    if predictions.empty or interactions.empty:
        return None
    as_of = pd.Timestamp(predictions["as_of"].iloc[0])
    when = pd.to_datetime(interactions["timestamp"])
    end = as_of + pd.Timedelta(days=horizon_days)
    if end > when.max().normalize() + pd.Timedelta(days=1):
        return None
    before = interactions[when <= as_of]
    after = interactions[(when > as_of) & (when < end)]
    ranked = predictions.sort_values(["customer_id", "rank"])
    lists = ranked.groupby("customer_id", sort=False)["item_id"].agg(list).to_dict()
    truth = {
        u: rel for u, rel in holdout_truth(before, after, exclude_bought=True).items() if u in lists
    }
    metrics: dict[str, float] = {}
    popularity: dict[str, float] = {}
    if truth and not before.empty:
        keys = (f"ndcg_at_{k}", f"precision_at_{k}", f"recall_at_{k}")
        catalog = before["item_id"].nunique()
        judged = {u: lists[u] for u in truth}
        metrics = {m: v for m, v in evaluate_topk(judged, truth, k, catalog).items() if m in keys}
        users = sorted(truth)
        baseline = fit_candidate("popularity", before).recommend_batch(users, k=k)
        popular = evaluate_topk(dict(zip(users, baseline, strict=True)), truth, k, catalog)
        popularity = {m: v for m, v in popular.items() if m in keys}
    return RealisedTopK(
        family,
        str(as_of),
        str(predictions["model_version"].iloc[0]),
        k,
        len(lists),
        len(truth),
        metrics,
        popularity,
    )
