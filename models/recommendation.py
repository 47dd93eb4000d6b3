"""Product recommendations from implicit feedback (customer x product purchases).

Candidates, all item-to-item so one serving class (:class:`models.pyfunc.RecommenderModel`)
serves them: ``score(user) = history(user) @ W``.

- ``popularity``: distinct buyers per item, the floor every model must beat;
- ``itemknn``: the classic item-based cosine similarity, top-N neighbours per item (baseline);
- ``rp3beta``: 3-step random walk user->item->user->item with popularity penalty (Paudel 2016);
- ``ease``: closed-form linear autoencoder, ``B = I - P diag(1/diag(P))`` with
  ``P = (X'X + l2 I)^-1`` (Steck 2019), pruned to the top-N weights per item to stay compact.

Evaluation holds out the last ``settings.holdout_days`` days: models learn from what came
before, and each customer seen before the cut-off is scored on what they bought after it. With
``exclude_bought=True`` items the customer bought before the cut-off are neither recommended
nor counted as hits (the "discover something new" task); with ``False`` they are allowed and
count (the "buy again" task). The champion is chosen by NDCG@10 with bought items excluded.

Interactions use the columns ``user_id, item_id, rating, timestamp``: the mart is mapped to
them by :func:`build_recommendation_data`, and the bench reads outside files in the same shape.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mercato.settings import Settings, get_settings
from models.family import Fitted, ModelFamily, Split
from models.gate import Evidence, mean_evidence
from models.metrics import evaluate_topk, topk_per_user

if TYPE_CHECKING:
    import scipy.sparse as sp

    from models.pyfunc import RecommenderModel

MODEL_NAME = "mercato_recommender"
EXPERIMENT = "mercato_recommendation"
COLUMNS = ("user_id", "item_id", "rating", "timestamp")
PRIMARY_METRIC = "ndcg_at_10"
#: The least NDCG@10 worth serving; the popularity floor is the real bar (it must be beaten).
MINIMUM_NDCG = 0.01

#: Default hyper-parameters per candidate (chosen on the real data, see bench/recsys_compare.py).
#: ``halflife_days`` weights a customer's history by how long ago each item was last bought
#: (None: all purchases weigh 1); it applies when scoring, the item weights are learned binary.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "popularity": {},
    "itemknn": {"n_neighbors": 100, "halflife_days": 60.0},
    "rp3beta": {"alpha": 1.0, "beta": 0.5, "n_neighbors": 200, "halflife_days": 60.0},
    "ease": {"l2": 300.0, "n_neighbors": 300, "halflife_days": 60.0},
}
CANDIDATES = tuple(DEFAULT_PARAMS)


@dataclass(frozen=True)
class CandidateResult:
    """One candidate's hold-out metrics (bought excluded and included) and training time."""

    name: str
    params: dict[str, Any]
    train_seconds: float
    excluded: dict[str, float]
    included: dict[str, float]


# -- data ------------------------------------------------------------------------------------
def build_recommendation_data(settings: Settings | None = None) -> pd.DataFrame:
    """Purchases from mart ``fct_order_lines`` (read-only) as the interaction columns.

    Cancellations are left out: a returned item says nothing about taste we want to repeat.
    """
    from warehouse import reader

    settings = settings or get_settings()
    df = reader.query(
        settings,
        """
        select customer_id as user_id, stock_code as item_id,
               cast(quantity as double) as rating, ordered_at as timestamp
        from main.fct_order_lines
        where not is_cancellation and quantity > 0
        order by ordered_at, order_line_id
        """,
    )
    return normalize_interactions(df)


def normalize_interactions(df: pd.DataFrame) -> pd.DataFrame:
    """Check and type an interactions frame: string ids, float rating, datetime timestamp.

    Rows with a missing id or timestamp are dropped; a missing rating counts as 1. Timestamps
    may be datetimes, ISO strings or Unix seconds.
    """
    missing = [c for c in ("user_id", "item_id") if c not in df.columns]
    if missing:
        raise ValueError(f"interactions lack column(s) {missing}; need {list(COLUMNS)}")
    out = pd.DataFrame(
        {
            "user_id": df["user_id"],
            "item_id": df["item_id"],
            "rating": df["rating"] if "rating" in df.columns else 1.0,
            "timestamp": df["timestamp"] if "timestamp" in df.columns else pd.NaT,
        }
    )
    out = out.dropna(subset=["user_id", "item_id"])
    for col in ("user_id", "item_id"):
        if pd.api.types.is_float_dtype(out[col]) and (out[col] % 1 == 0).all():
            out[col] = out[col].astype("int64")
        out[col] = out[col].astype(str)
    out["rating"] = pd.to_numeric(out["rating"], errors="coerce").fillna(1.0).astype(float)
    ts = out["timestamp"]
    if pd.api.types.is_numeric_dtype(ts):
        out["timestamp"] = pd.to_datetime(ts, unit="s")
    else:
        out["timestamp"] = pd.to_datetime(ts)
    return out.reset_index(drop=True)


def holdout_cutoff(interactions: pd.DataFrame, holdout_days: int) -> pd.Timestamp:
    """Start of the hold-out: the last timestamp minus ``holdout_days``."""
    if interactions["timestamp"].isna().all():
        raise ValueError("a temporal hold-out needs timestamps")
    return interactions["timestamp"].max() - pd.Timedelta(days=holdout_days)


def temporal_split(
    interactions: pd.DataFrame, holdout_days: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """(before cut-off, from cut-off on, cut-off) with cut-off from :func:`holdout_cutoff`."""
    cutoff = holdout_cutoff(interactions, holdout_days)
    before = interactions[interactions["timestamp"] < cutoff]
    after = interactions[interactions["timestamp"] >= cutoff]
    return before.reset_index(drop=True), after.reset_index(drop=True), cutoff


def holdout_truth(
    train: pd.DataFrame, test: pd.DataFrame, exclude_bought: bool
) -> dict[str, set[str]]:
    """Items each customer known before the cut-off bought after it (minus earlier ones if asked).

    Customers unknown before the cut-off are left out: no model can personalise for them.
    """
    seen = train.groupby("user_id")["item_id"].agg(set).to_dict()
    truth: dict[str, set[str]] = {}
    for user, items in test.groupby("user_id")["item_id"].agg(set).items():
        if user not in seen:
            continue
        rel = items - seen[user] if exclude_bought else items
        if rel:
            truth[user] = rel
    return truth


# -- candidates ------------------------------------------------------------------------------
def _matrix(train: pd.DataFrame) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Binary users x items matrix (a purchase is a purchase, whatever the quantity)."""
    import scipy.sparse as sp

    users, u_idx = np.unique(train["user_id"].to_numpy(dtype=str), return_inverse=True)
    items, i_idx = np.unique(train["item_id"].to_numpy(dtype=str), return_inverse=True)
    x = sp.csr_matrix(
        (np.ones(len(u_idx), dtype=np.float32), (u_idx, i_idx)), shape=(len(users), len(items))
    )
    x.sum_duplicates()
    x.data[:] = 1.0
    return x, users, items


def _history(
    train: pd.DataFrame, users: np.ndarray, items: np.ndarray, halflife_days: float | None
) -> sp.csr_matrix:
    """Users x items weights 0.5 ** (days since last bought / half-life) at the training end."""
    import scipy.sparse as sp

    last = train.groupby(["user_id", "item_id"], sort=False)["timestamp"].max()
    if halflife_days is None or last.isna().any():
        weight = np.ones(len(last), dtype=np.float32)
    else:
        age = (train["timestamp"].max() - last).dt.total_seconds().to_numpy() / 86400.0
        weight = np.power(0.5, age / halflife_days).astype(np.float32)
    rows = np.searchsorted(users, last.index.get_level_values(0).to_numpy(dtype=str))
    cols = np.searchsorted(items, last.index.get_level_values(1).to_numpy(dtype=str))
    return sp.csr_matrix((weight, (rows, cols)), shape=(len(users), len(items)))


def _prune_rows(w: np.ndarray | sp.spmatrix, n: int) -> sp.csr_matrix:
    """Keep the n largest entries of every row (a compact neighbour list), drop the diagonal."""
    import scipy.sparse as sp

    dense = w.toarray() if sp.issparse(w) else np.asarray(w)
    dense = dense.astype(np.float32, copy=True)
    np.fill_diagonal(dense, 0.0)
    n = min(n, dense.shape[1] - 1)
    if n <= 0:
        return sp.csr_matrix(dense.shape, dtype=np.float32)
    cols = np.argpartition(-dense, n - 1, axis=1)[:, :n]
    rows = np.repeat(np.arange(dense.shape[0]), n)
    vals = dense[rows, cols.ravel()]
    keep = vals > 0
    return sp.csr_matrix(
        (vals[keep], (rows[keep], cols.ravel()[keep])), shape=dense.shape, dtype=np.float32
    )


def fit_itemknn(x: sp.csr_matrix, n_neighbors: int = 100) -> sp.csr_matrix:
    """Cosine similarity between item columns, top-N neighbours per item."""
    norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel())
    norms[norms == 0] = 1.0
    co = (x.T @ x).toarray().astype(np.float32)
    sim = co / norms[:, None] / norms[None, :]
    return _prune_rows(sim, n_neighbors)


def fit_rp3beta(
    x: sp.csr_matrix, alpha: float = 1.0, beta: float = 0.5, n_neighbors: int = 200
) -> sp.csr_matrix:
    """P(item -> user -> item) ** alpha, divided by target popularity ** beta, top-N per item."""
    import scipy.sparse as sp

    user_deg = np.asarray(x.sum(axis=1)).ravel()
    item_deg = np.asarray(x.sum(axis=0)).ravel()
    p_ui = sp.diags(1.0 / np.maximum(user_deg, 1.0)) @ x
    p_iu = sp.diags(1.0 / np.maximum(item_deg, 1.0)) @ x.T
    w = (p_iu @ p_ui).toarray()
    if alpha != 1.0:
        w = np.power(w, alpha)
    w = w / np.power(np.maximum(item_deg, 1.0), beta)[None, :]
    return _prune_rows(w, n_neighbors)


def fit_ease(x: sp.csr_matrix, l2: float = 300.0, n_neighbors: int = 300) -> sp.csr_matrix:
    """EASE item weights, pruned to the top-N positive weights per source item."""
    g = (x.T @ x).toarray().astype(np.float64)
    g[np.diag_indices_from(g)] += l2
    p = np.linalg.inv(g)
    b = -p / np.diag(p)[None, :]
    return _prune_rows(b, n_neighbors)


_FITTERS: dict[str, Callable[..., Any]] = {
    "itemknn": fit_itemknn,
    "rp3beta": fit_rp3beta,
    "ease": fit_ease,
}


def fit_candidate(
    name: str, train: pd.DataFrame, params: Mapping[str, Any] | None = None
) -> RecommenderModel:
    """Fit one candidate on interactions and wrap it in the serving class."""
    from models.pyfunc import RecommenderModel

    if name not in DEFAULT_PARAMS:
        raise ValueError(f"unknown recommender {name!r}; choose from {', '.join(CANDIDATES)}")
    merged = {**DEFAULT_PARAMS[name], **dict(params or {})}
    fit_params = {p: v for p, v in merged.items() if p != "halflife_days"}
    x, users, items = _matrix(train)
    popularity = np.asarray(x.sum(axis=0)).ravel()
    weights = None if name == "popularity" else _FITTERS[name](x, **fit_params)
    history = _history(train, users, items, merged.get("halflife_days"))
    return RecommenderModel(name, users, items, history, weights, popularity, merged)


def refit(model: Any, train: pd.DataFrame) -> RecommenderModel:
    """The same configuration (algorithm and parameters) as ``model``, fitted on ``train``."""
    return fit_candidate(model.algorithm, train, model.params)


# -- evaluation ------------------------------------------------------------------------------
def _holdout_lists(
    model: Any, train: pd.DataFrame, test: pd.DataFrame, k: int, exclude_bought: bool
) -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    """(hold-out truth, the model's top-k list for every user in it)."""
    truth = holdout_truth(train, test, exclude_bought)
    users = sorted(truth)
    if hasattr(model, "recommend_batch"):
        lists = model.recommend_batch(users, k=k, exclude_bought=exclude_bought)
    else:
        lists = [[i for i, _ in model.recommend(u, k, exclude_bought)] for u in users]
    return truth, dict(zip(users, lists, strict=True))


def evaluate_recommendation(
    model: Any,
    train: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    exclude_bought: bool = True,
) -> dict[str, float]:
    """Hold-out metrics@k of any model with ``recommend_batch`` (or ``recommend``).

    The truth and the catalogue come from the data, not from the model, so a champion trained
    on other data is judged on exactly the same hold-out as the challenger.
    """
    truth, recs = _holdout_lists(model, train, test, k, exclude_bought)
    return evaluate_topk(recs, truth, k, train["item_id"].nunique())


def recommendation_evidence(
    model: Any, train: pd.DataFrame, test: pd.DataFrame, k: int = 10
) -> Evidence:
    """The gate's view of a model: bought-excluded metrics and NDCG@k per hold-out user."""
    truth, recs = _holdout_lists(model, train, test, k, exclude_bought=True)
    metrics = evaluate_topk(recs, truth, k, train["item_id"].nunique())
    _, per_user = topk_per_user(recs, truth, k)
    return mean_evidence(metrics, per_user["ndcg"])


def score_candidates(
    train: pd.DataFrame,
    test: pd.DataFrame,
    candidates: Sequence[str] = CANDIDATES,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    k: int = 10,
) -> tuple[list[CandidateResult], dict[str, RecommenderModel]]:
    """Fit every candidate on ``train`` and score it on ``test``, both exclusion modes."""
    results, models = [], {}
    for name in candidates:
        start = time.perf_counter()
        model = fit_candidate(name, train, (params or {}).get(name))
        seconds = time.perf_counter() - start
        results.append(
            CandidateResult(
                name=name,
                params=dict(model.params),
                train_seconds=seconds,
                excluded=evaluate_recommendation(model, train, test, k, exclude_bought=True),
                included=evaluate_recommendation(model, train, test, k, exclude_bought=False),
            )
        )
        models[name] = model
    return results, models


def compare_candidates(
    interactions: pd.DataFrame,
    holdout_days: int,
    candidates: Sequence[str] = CANDIDATES,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    k: int = 10,
) -> tuple[list[CandidateResult], dict[str, RecommenderModel], pd.DataFrame, pd.DataFrame]:
    """:func:`score_candidates` on the temporal split of ``interactions`` (for the benches)."""
    train, test, _ = temporal_split(interactions, holdout_days)
    results, models = score_candidates(train, test, candidates, params, k)
    return results, models, train, test


def _precision_curve_figure(models: Mapping[str, Any], train: pd.DataFrame, test: pd.DataFrame):
    from models.tracking import figure

    fig, ax = figure()
    ks = [1, 2, 3, 5, 10, 15, 20]
    for name, model in models.items():
        values = [evaluate_recommendation(model, train, test, k)[f"precision_at_{k}"] for k in ks]
        ax.plot(ks, values, marker="o", label=name)
    ax.set_xlabel("k")
    ax.set_ylabel("precision@k (bought excluded)")
    ax.set_title("Hold-out precision@k by candidate")
    ax.legend()
    return fig


class RecommendationFamily(ModelFamily):
    """Recommendations: item-to-item candidates compared on a temporal hold-out, best served.

    Candidates are fitted before the cut-off and scored after it. The gate compares
    configurations, not artifacts: the champion's algorithm and parameters are refitted on the
    same pre-cut-off data and scored on the same hold-out, so neither side has seen it. The
    version registered is the winning configuration refitted on all the data, so the service
    knows every purchase up to the last day (for exclude-bought and for new customers).
    """

    name = "recommendation"
    registered_model = MODEL_NAME
    experiment = EXPERIMENT
    reads = "mart fct_order_lines (purchases, cancellations out) as implicit feedback"
    metric = PRIMARY_METRIC
    minimum = MINIMUM_NDCG
    chance = 0.0
    api = "serving.apis.recommendation"
    summary = "products for a customer and similar products (EASE, RP3beta, item-kNN)"

    def __init__(
        self,
        candidates: Sequence[str] = CANDIDATES,
        params: Mapping[str, Mapping[str, Any]] | None = None,
        k: int = 10,
    ) -> None:
        self.candidates = tuple(candidates)
        self.params = params
        self.k = k

    def load_data(self, settings: Settings) -> pd.DataFrame:
        return build_recommendation_data(settings)

    def split(self, data: pd.DataFrame, settings: Settings) -> Split:
        interactions = normalize_interactions(data)
        train, test, cutoff = temporal_split(interactions, settings.holdout_days)
        info = {
            "holdout_days": settings.holdout_days,
            "n_train_interactions": len(train),
            "n_test_interactions": len(test),
        }
        return Split(train, test, interactions, info)

    def fit(self, split: Split, settings: Settings) -> Fitted:
        k = self.k
        results, models = score_candidates(
            split.train, split.holdout, self.candidates, self.params, k
        )
        best = max(results, key=lambda r: r.excluded[f"ndcg_at_{k}"])
        floor = next((r.excluded[f"ndcg_at_{k}"] for r in results if r.name == "popularity"), None)
        served = fit_candidate(best.name, split.data, best.params)
        return Fitted(
            model=models[best.name],
            served=served,
            input_example=pd.DataFrame({"customer_id": [str(served.user_ids[0])]}),
            pyfunc_params={"k": k, "exclude_bought": True},
            params={
                "k": k,
                "seed": settings.seed,
                "candidates": ",".join(self.candidates),
                "champion_candidate": best.name,
                **{f"{r.name}.{p}": v for r in results for p, v in r.params.items()},
            },
            metrics={
                **{f"{key}_incl_bought": float(v) for key, v in best.included.items()},
                "n_served_interactions": float(len(split.data)),
            },
            floor=floor,
            tags={"algorithm": best.name},
            details={"algorithm": best.name, "candidates": results},
            run_name=f"recommender-{best.name}",
            state={"models": models},
        )

    def evaluate(self, model: Any, split: Split, fitted: Fitted) -> Evidence:
        return recommendation_evidence(model, split.train, split.holdout, self.k)

    def evaluate_champion(self, champion: Any, split: Split, fitted: Fitted) -> Evidence:
        """The champion's configuration refitted before the cut-off, like the challenger."""
        return self.evaluate(refit(champion, split.train), split, fitted)

    def log(self, fitted: Fitted, split: Split) -> None:
        import mlflow

        from models import tracking

        results = fitted.details["candidates"]
        for r in results:
            mlflow.log_metrics({f"{r.name}.{m}": v for m, v in r.excluded.items()})
            mlflow.log_metrics({f"{r.name}.incl_bought.{m}": v for m, v in r.included.items()})
            mlflow.log_metric(f"{r.name}.train_seconds", r.train_seconds)
        mlflow.log_table(candidates_table(results, self.k), "candidates.json")
        models = fitted.state["models"]
        figure = _precision_curve_figure(models, split.train, split.holdout)
        tracking.log_figure(figure, "precision_at_k.png")


def table_row(metrics: Mapping[str, float], k: int, bought: str, seconds: float) -> dict:
    """One row of the candidates table (README and bench) from ``evaluate_topk`` metrics."""
    return {
        "bought": bought,
        f"ndcg@{k}": metrics[f"ndcg_at_{k}"],
        f"precision@{k}": metrics[f"precision_at_{k}"],
        f"recall@{k}": metrics[f"recall_at_{k}"],
        f"map@{k}": metrics[f"map_at_{k}"],
        f"coverage@{k}": metrics[f"coverage_at_{k}"],
        "users": int(metrics["n_users"]),
        "train_s": round(seconds, 2),
    }


def candidates_table(results: Sequence[CandidateResult], k: int = 10) -> pd.DataFrame:
    """One row per candidate and exclusion mode: the README/bench table."""
    return pd.DataFrame(
        {"model": r.name, **table_row(m, k, mode, r.train_seconds)}
        for r in results
        for mode, m in (("excluded", r.excluded), ("included", r.included))
    )


FAMILY = RecommendationFamily()
