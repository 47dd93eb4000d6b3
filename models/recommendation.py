"""Product recommendations from purchases (customer x product) and product text.

Methods (the algorithms live in :mod:`models.recommenders`; one serving class,
:class:`models.pyfunc.RecommenderModel`, serves them all):

- ``popularity``: distinct buyers per item, the floor every model must beat;
- ``itemknn``: the classic item-based cosine similarity, top-N neighbours per item (baseline);
- ``rp3beta``: 3-step random walk user->item->user->item with popularity penalty (Paudel 2016);
- ``ease``: closed-form linear autoencoder, ``B = I - P diag(1/diag(P))`` with
  ``P = (X'X + l2 I)^-1`` (Steck 2019), pruned to the top-N weights per item to stay compact;
  above ``recommenders.DENSE_MAX_ITEMS`` products it is replaced by item-kNN (memory);
- ``userknn_cosine``, ``userknn_pearson``: the classic user-based neighbourhood methods, with
  neighbourhood size and shrinkage as parameters;
- ``content`` (needs item text): TF-IDF cosine of the product descriptions, so a product nobody
  has bought yet can be recommended to the customers who bought similar ones;
- ``hybrid`` (needs item text): per product a blend of EASE and content weights, content-only
  for a product with no buyers, mostly EASE for a best-seller.

Evaluation holds out the last ``settings.holdout_days`` days: models learn from what came
before, and each customer seen before the cut-off is scored on what they bought after it. With
``exclude_bought=True`` items the customer bought before the cut-off are neither recommended
nor counted as hits (the "discover something new" task); with ``False`` they are allowed and
count (the "buy again" task). Two more rows per method: *cold items* (only hits on products
first sold in the hold-out count) and *light customers* (customers with one or two orders before
the cut-off). The champion is chosen by NDCG@10 with bought items excluded, on the hold-out.

Hyperparameters are chosen before that, on a validation split carved in time from the training
part (its last ``holdout_days`` days): each method's grid (:data:`TUNING_GRID`) is fitted on what
came before the validation cut and scored on it; the hold-out is never looked at. The chosen
values are logged with the run.

Interactions use the columns ``user_id, item_id, rating, timestamp``: the mart is mapped to
them by :func:`build_recommendation_data`, and the bench reads outside files in the same shape.
Item text is a frame ``item_id, text`` (and ``description``, the name shown in answers).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mercato.settings import Settings, get_settings
from models import recommenders as rs
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

#: Default hyper-parameters per method: what ``fit_candidate`` uses when nothing is tuned (the
#: door's ``--no-tune``, the tests' constructed data), and the starting point of every grid.
#: ``halflife_days`` weights a customer's history by how long ago each item was last bought
#: (None: all purchases weigh 1); it applies when scoring, the weights are learned binary.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "popularity": {},
    "itemknn": {"n_neighbors": 100, "halflife_days": 60.0},
    "rp3beta": {"alpha": 1.0, "beta": 0.5, "n_neighbors": 200, "halflife_days": 60.0},
    "ease": {"l2": 300.0, "n_neighbors": 300, "halflife_days": 60.0},
    "userknn_cosine": {"n_neighbors": 50, "shrinkage": 10.0, "halflife_days": 60.0},
    "userknn_pearson": {"n_neighbors": 50, "shrinkage": 10.0, "halflife_days": 60.0},
    "content": {"n_neighbors": 100, "halflife_days": 60.0},
    "hybrid": {
        "l2": 300.0,
        "n_neighbors": 300,
        "halflife_days": 60.0,
        "content_neighbors": 100,
        "alpha": 0.1,
        "shrinkage": 5.0,
    },
}
#: Methods that learn from interactions alone.
CANDIDATES = (
    "popularity",
    "itemknn",
    "rp3beta",
    "ease",
    "userknn_cosine",
    "userknn_pearson",
)
#: Methods that also need item text (skipped, with a note, when there is none).
TEXT_CANDIDATES = ("content", "hybrid")
METHODS = CANDIDATES + TEXT_CANDIDATES
#: Neighbours of the content similarity every model carries for its fallback answers.
FALLBACK_CONTENT_NEIGHBORS = 100

#: The grid of each method, searched on the validation split (a point overrides the defaults).
#: The hybrid's EASE part takes EASE's chosen values, so only its blend is searched.
TUNING_GRID: dict[str, list[dict[str, Any]]] = {
    "popularity": [{}],
    "itemknn": [{"n_neighbors": n, "halflife_days": h} for n in (50, 200) for h in (15.0, 90.0)],
    "rp3beta": [
        {"alpha": 1.0, "beta": b, "halflife_days": h} for b in (0.3, 0.5, 0.7) for h in (15.0, 90.0)
    ],
    "ease": [
        {"l2": l2, "halflife_days": h} for l2 in (100.0, 300.0, 1000.0) for h in (15.0, 30.0, 90.0)
    ],
    "userknn_cosine": [
        {"n_neighbors": n, "shrinkage": sh, "halflife_days": h}
        for n in (50, 200)
        for sh in (0.0, 10.0)
        for h in (15.0, 60.0)
    ],
    "userknn_pearson": [
        {"n_neighbors": n, "shrinkage": sh, "halflife_days": h}
        for n in (50, 200)
        for sh in (0.0, 10.0)
        for h in (15.0, 60.0)
    ],
    "content": [{"n_neighbors": n, "halflife_days": h} for n in (50, 200) for h in (15.0, 60.0)],
    "hybrid": [{"alpha": a, "shrinkage": sh} for a in (0.0, 0.1, 0.2, 0.4) for sh in (1.0, 5.0)],
}
#: The hybrid's parameters taken from EASE's tuned values.
HYBRID_FROM_EASE = ("l2", "n_neighbors", "halflife_days")
#: Most customers the grid search is run on: above it, a fixed random sample of them (and
#: all their lines). The chosen parameters move little with more customers, and the search
#: fits every method many times, so its time stays bounded as the shop grows.
TUNE_MAX_USERS = 20_000


@dataclass(frozen=True)
class CandidateResult:
    """One method's hold-out metrics (bought excluded and included, cold items, light
    customers), its training time, and what tuning on the validation split chose."""

    name: str
    params: dict[str, Any]
    train_seconds: float
    excluded: dict[str, float]
    included: dict[str, float]
    cold_items: dict[str, float] | None = None
    light_customers: dict[str, float] | None = None
    validation_ndcg: float | None = None
    tune_seconds: float = 0.0
    trials: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RecommendationData:
    """What the family trains on: interactions and, where the source has it, item text."""

    interactions: pd.DataFrame
    items: pd.DataFrame | None = None


@dataclass
class RecommendationSplit(Split):
    """A split that also carries the item text (``None``: no content or hybrid methods)."""

    items: pd.DataFrame | None = None


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


def relevant(test: pd.DataFrame, min_rating: float | None) -> pd.DataFrame:
    """The hold-out rows that count as hits: all of them for purchases, the items rated at
    least ``min_rating`` stars for explicit ratings."""
    if min_rating is None:
        return test
    return test[test["rating"] >= float(min_rating)].reset_index(drop=True)


def rating_mode(interactions: pd.DataFrame) -> bool:
    """Whether ``rating`` looks like explicit stars: on the ratings source's scale (0.5 to 5 in
    half steps) and not all equal. Purchase quantities (any whole number, mostly above 5) and
    a missing rating column (all 1) do not."""
    from expectations.ratings import MAX_RATING, MIN_RATING

    stars = interactions["rating"]
    on_scale = stars.between(MIN_RATING, MAX_RATING).all() and ((stars * 2) % 1 == 0).all()
    return bool(len(stars) and on_scale and stars.nunique() > 1)


def build_item_text(settings: Settings | None = None) -> pd.DataFrame:
    """Item text from mart ``dim_products``: ``item_id, text, description``.

    The text is the description (and the category, where a source has one); the description
    is also the name every answer carries.
    """
    from warehouse import reader

    settings = settings or get_settings()
    frame = reader.query(
        settings,
        "select stock_code as item_id, description from main.dim_products order by stock_code",
    )
    return normalize_items(frame)


def normalize_items(frame: pd.DataFrame) -> pd.DataFrame:
    """Check and type an item-text frame: ``item_id`` and ``text`` (or ``description``, and
    ``category`` joined to it where present); one row per item, empty texts dropped."""
    if "item_id" not in frame.columns:
        raise ValueError(f"item text lacks column 'item_id'; has {list(frame.columns)}")
    if "text" not in frame.columns and "description" not in frame.columns:
        raise ValueError("item text needs a 'text' or 'description' column besides 'item_id'")
    ids = frame["item_id"]
    if pd.api.types.is_float_dtype(ids) and (ids.dropna() % 1 == 0).all():
        ids = ids.astype("Int64")
    base = frame["text"] if "text" in frame.columns else frame["description"]
    text = base.fillna("").astype(str)
    if "category" in frame.columns:
        text = text + " " + frame["category"].fillna("").astype(str)
    out = pd.DataFrame(
        {
            "item_id": ids.astype(str),
            "text": text.str.strip(),
            "description": (
                frame["description"] if "description" in frame.columns else base
            ).astype("string"),
        }
    )
    out = out[ids.notna().to_numpy() & (out["text"] != "")]
    return out.drop_duplicates("item_id").reset_index(drop=True)


def load_recommendation_data(settings: Settings | None = None) -> RecommendationData:
    """Interactions and item text from the marts: what the pipeline trains the family on."""
    return RecommendationData(build_recommendation_data(settings), build_item_text(settings))


# -- methods ---------------------------------------------------------------------------------
def _matrix(
    train: pd.DataFrame, extra_items: np.ndarray | None = None
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Binary users x items matrix (see :func:`models.recommenders.interaction_matrix`)."""
    return rs.interaction_matrix(train, extra_items)


def fit_candidate(
    name: str,
    train: pd.DataFrame,
    params: Mapping[str, Any] | None = None,
    items: pd.DataFrame | None = None,
    cache: rs.Cache | None = None,
    max_dense_items: int | None = None,
    min_rating: float | None = None,
) -> RecommenderModel:
    """Fit one method on interactions (and item text) and wrap it in the serving class.

    With ``items`` the catalogue also holds the products that have text but no purchase yet,
    and every model carries the content similarity for its fallback answers. ``cache`` (one
    dict per ``train`` frame) lets a grid search reuse matrices. EASE (and the hybrid's EASE
    part) switch to item-kNN above ``max_dense_items`` products (default
    ``recommenders.DENSE_MAX_ITEMS``); the model then says ``algorithm == "itemknn"`` and
    ``params["switched_from"] == name`` (and keeps the limit, so a refit switches alike).

    ``min_rating`` (or ``params["min_rating"]``) reads ``rating`` as explicit stars (see
    :func:`rating_mode`): the methods learn from the items rated at least that well,
    ``userknn_pearson`` correlates mean-centred ratings over co-rated items, and every item a
    user rated, liked or not, counts as seen. The value is kept in ``params`` for the refit.
    """
    from models.pyfunc import RecommenderModel

    if name not in DEFAULT_PARAMS:
        raise ValueError(f"unknown recommender {name!r}; choose from {', '.join(METHODS)}")
    if name in TEXT_CANDIDATES and items is None:
        raise ValueError(f"{name} needs item text: pass items (columns item_id, text)")
    merged = {**DEFAULT_PARAMS[name], **dict(params or {})}
    extra = None if items is None else items["item_id"].to_numpy(dtype=str)
    if min_rating is None:
        min_rating = merged.get("min_rating")
    if min_rating is not None:
        merged["min_rating"] = float(min_rating)
    seen, users, catalogue = rs.cached(cache, "matrix", lambda: _matrix(train, extra))
    x, liked = seen, train
    if min_rating is not None:
        liked = train[train["rating"] >= float(min_rating)]
        x = rs.cached(
            cache, ("liked", min_rating), lambda: rs.aligned_matrix(liked, users, catalogue)
        )
    halflife = merged.get("halflife_days")
    end = train["timestamp"].max()
    history = rs.cached(
        cache,
        ("history", halflife, min_rating),
        lambda: rs.history_matrix(liked, users, catalogue, halflife, end),
    )
    popularity = np.asarray(x.sum(axis=0)).ravel()
    texts = rs.item_texts(items, catalogue) if items is not None else None

    def content(n: int) -> sp.csr_matrix:
        return rs.cached(cache, ("content", n), lambda: rs.fit_content(texts, n))

    def itemknn(n: int) -> sp.csr_matrix:
        return rs.cached(cache, ("itemknn", n), lambda: rs.fit_itemknn(x, n))

    algorithm, weights, user_weights = name, None, None
    limit = max_dense_items if max_dense_items is not None else merged.get("dense_max_items")
    dense_ok = rs.ease_fits(len(catalogue), limit)
    if name in ("ease", "hybrid") and not dense_ok:
        merged["switched_from"] = name
        merged["dense_max_items"] = rs.DENSE_MAX_ITEMS if limit is None else int(limit)
    if name == "itemknn" or (name == "ease" and not dense_ok):
        algorithm = "itemknn"
        weights = itemknn(int(merged["n_neighbors"]))
    elif name == "rp3beta":
        key = ("rp3beta", merged["alpha"], merged["beta"], merged["n_neighbors"])
        weights = rs.cached(
            cache,
            key,
            lambda: rs.fit_rp3beta(x, merged["alpha"], merged["beta"], merged["n_neighbors"]),
        )
    elif name == "ease":
        key = ("ease", merged["l2"], merged["n_neighbors"])
        weights = rs.cached(
            cache, key, lambda: rs.fit_ease(x, merged["l2"], int(merged["n_neighbors"]))
        )
    elif name == "userknn_pearson" and min_rating is not None:
        history = rs.cached(
            cache,
            ("centred", halflife),
            lambda: rs.centred_ratings(train, users, catalogue, halflife),
        )
        key = (name, merged["n_neighbors"], merged["shrinkage"], "explicit", halflife)
        user_weights = rs.cached(
            cache,
            key,
            lambda: rs.fit_userknn_ratings(
                history, seen, int(merged["n_neighbors"]), float(merged["shrinkage"])
            ),
        )
        weights = itemknn(DEFAULT_PARAMS["itemknn"]["n_neighbors"])
    elif name in ("userknn_cosine", "userknn_pearson"):
        similarity = name.split("_")[1]
        key = (name, merged["n_neighbors"], merged["shrinkage"])
        user_weights = rs.cached(
            cache,
            key,
            lambda: rs.fit_userknn(
                x, similarity, int(merged["n_neighbors"]), float(merged["shrinkage"])
            ),
        )
        weights = itemknn(DEFAULT_PARAMS["itemknn"]["n_neighbors"])
    elif name == "content":
        weights = content(int(merged["n_neighbors"]))
    elif name == "hybrid":
        if dense_ok:
            key = ("ease", merged["l2"], merged["n_neighbors"])
            collaborative = rs.cached(
                cache, key, lambda: rs.fit_ease(x, merged["l2"], int(merged["n_neighbors"]))
            )
        else:
            collaborative = itemknn(int(merged["n_neighbors"]))
        weights = rs.fit_hybrid(
            collaborative,
            content(int(merged["content_neighbors"])),
            popularity,
            float(merged["alpha"]),
            float(merged["shrinkage"]),
            int(merged["n_neighbors"]),
        )
    fallback = None if texts is None else content(FALLBACK_CONTENT_NEIGHBORS)
    descriptions = None
    if items is not None:
        names = items.drop_duplicates("item_id").set_index("item_id")["description"]
        descriptions = names.reindex(catalogue).astype(object).where(lambda d: d.notna(), None)
    return RecommenderModel(
        algorithm,
        users,
        catalogue,
        history,
        weights,
        popularity,
        merged,
        user_weights=user_weights,
        content=fallback,
        descriptions=None if descriptions is None else descriptions.tolist(),
        seen=None if min_rating is None else seen,
    )


def refit(model: Any, train: pd.DataFrame, items: pd.DataFrame | None = None) -> RecommenderModel:
    """The same configuration (method and parameters) as ``model``, fitted on ``train``.

    Item text is used only if the model was trained with it (a model from before content
    methods refits as it was).
    """
    params = dict(model.params)
    name = params.pop("switched_from", None) or model.algorithm
    with_text = items if getattr(model, "content", None) is not None else None
    return fit_candidate(name, train, params, with_text)


# -- evaluation ------------------------------------------------------------------------------
def _holdout_lists(
    model: Any,
    train: pd.DataFrame,
    test: pd.DataFrame,
    k: int,
    exclude_bought: bool,
    truth: dict[str, set[str]] | None = None,
) -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    """(hold-out truth, the model's top-k list for every user in it); ``truth``, when given,
    is :func:`holdout_truth` of the same frames, computed once for many models."""
    if truth is None:
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
    truth: dict[str, set[str]] | None = None,
) -> dict[str, float]:
    """Hold-out metrics@k of any model with ``recommend_batch`` (or ``recommend``).

    The truth and the catalogue come from the data, not from the model, so a champion trained
    on other data is judged on exactly the same hold-out as the challenger. ``truth``: see
    :func:`_holdout_lists`.
    """
    truth, recs = _holdout_lists(model, train, test, k, exclude_bought, truth)
    return evaluate_topk(recs, truth, k, train["item_id"].nunique())


def light_customers(train: pd.DataFrame, max_orders: int = 2) -> set[str]:
    """Customers with at most ``max_orders`` orders (distinct purchase times) in ``train``."""
    orders = train.groupby("user_id")["timestamp"].nunique()
    return set(orders[orders <= max_orders].index)


def segment_truths(
    train: pd.DataFrame, truth: Mapping[str, set[str]]
) -> dict[str, dict[str, set[str]]]:
    """The hold-out truth restricted to cold items and to light customers.

    ``cold_items``: only products first sold after the cut-off (absent from ``train``) count,
    for the customers who bought one; ``light_customers``: the truth of customers with one or
    two orders before the cut-off.
    """
    known = set(train["item_id"])
    light = light_customers(train)
    cold = {u: rel - known for u, rel in truth.items() if rel - known}
    return {
        "cold_items": cold,
        "light_customers": {u: rel for u, rel in truth.items() if u in light},
    }


def _segment_metrics(
    recs: Mapping[str, list[str]], truth: Mapping[str, set[str]], k: int, catalog: int
) -> dict[str, float] | None:
    return evaluate_topk(recs, truth, k, catalog) if truth else None


def recommendation_evidence(
    model: Any, train: pd.DataFrame, test: pd.DataFrame, k: int = 10
) -> Evidence:
    """The gate's view of a model: bought-excluded metrics and NDCG@k per hold-out user."""
    truth, recs = _holdout_lists(model, train, test, k, exclude_bought=True)
    metrics = evaluate_topk(recs, truth, k, train["item_id"].nunique())
    _, per_user = topk_per_user(recs, truth, k)
    return mean_evidence(metrics, per_user["ndcg"])


def tune_candidate(
    name: str,
    train: pd.DataFrame,
    validation_days: int,
    items: pd.DataFrame | None = None,
    k: int = 10,
    grid: Sequence[Mapping[str, Any]] | None = None,
    base: Mapping[str, Any] | None = None,
    min_rating: float | None = None,
    cache: rs.Cache | None = None,
    max_users: int | None = TUNE_MAX_USERS,
) -> tuple[dict[str, Any], float | None, list[dict[str, Any]]]:
    """(chosen params, their validation NDCG@k, every trial) for one method.

    The validation split is the last ``validation_days`` of ``train``: each grid point is
    fitted on what came before and scored, bought items excluded, on it. ``base`` overrides
    the defaults under every point (the hybrid's EASE part). A split with nothing to score
    keeps the defaults (validation NDCG None). With ``min_rating`` (explicit ratings) the
    methods learn in ratings mode and only validation items rated at least that well count.
    ``cache`` (for the fitting part of this validation split) may be shared by the methods
    tuned on the same ``train``: matrices, text similarities and EASE weights are built once.
    Above ``max_users`` customers the search runs on :func:`tuning_sample` of them.
    """
    chosen = {**DEFAULT_PARAMS[name], **dict(base or {})}
    if min_rating is not None:
        chosen["min_rating"] = float(min_rating)
    if train["timestamp"].isna().any():
        return chosen, None, []
    fit_part, valid, _ = temporal_split(tuning_sample(train, max_users), validation_days)
    valid = relevant(valid, min_rating)
    truth = holdout_truth(fit_part, valid, True)
    if fit_part.empty or not truth:
        return chosen, None, []
    cache = {} if cache is None else cache
    trials, best = [], (-1.0, chosen)
    for point in grid if grid is not None else TUNING_GRID[name]:
        params = {**chosen, **dict(point)}
        model = fit_candidate(name, fit_part, params, items, cache)
        ndcg = evaluate_recommendation(model, fit_part, valid, k, exclude_bought=True, truth=truth)
        score = ndcg[f"ndcg_at_{k}"]
        trials.append({"model": name, **dict(point), "validation_ndcg": score})
        if score > best[0]:
            best = (score, params)
    return best[1], best[0], trials


def tuning_sample(train: pd.DataFrame, max_users: int | None = TUNE_MAX_USERS) -> pd.DataFrame:
    """The lines of ``max_users`` customers drawn at random (seed 0, from the sorted ids) when
    ``train`` has more, else ``train`` itself: the same sample for every method."""
    users = np.sort(train["user_id"].unique())
    if max_users is None or len(users) <= max_users:
        return train
    keep = np.random.default_rng(0).choice(users, size=int(max_users), replace=False)
    return train[train["user_id"].isin(keep)].reset_index(drop=True)


def score_candidates(
    train: pd.DataFrame,
    test: pd.DataFrame,
    candidates: Sequence[str] = CANDIDATES,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    k: int = 10,
    items: pd.DataFrame | None = None,
    tune_days: int | None = None,
    min_rating: float | None = None,
) -> tuple[list[CandidateResult], dict[str, RecommenderModel]]:
    """Fit every method on ``train`` and score it on ``test``: both exclusion modes, cold
    items and light customers.

    With ``tune_days`` each method without explicit ``params`` is first tuned on a validation
    split of that many days carved from the end of ``train`` (:func:`tune_candidate`). Text
    methods are skipped when there is no ``items`` frame. ``min_rating``: explicit ratings
    (:func:`rating_mode`), only hold-out items rated at least that well are relevant.
    """
    params = params or {}
    test = relevant(test, min_rating)
    truth_ex = holdout_truth(train, test, exclude_bought=True)
    segments = segment_truths(train, truth_ex)
    catalog = train["item_id"].nunique()
    users_ex = sorted(truth_ex)
    truth_in = holdout_truth(train, test, exclude_bought=False)
    users_in = sorted(truth_in)
    order = sorted(candidates, key=lambda c: c == "hybrid")  # the hybrid builds on EASE
    results, models, chosen = [], {}, {}
    tune_cache: rs.Cache = {}  # every method is tuned on the same validation split
    fit_cache: rs.Cache = {}  # and fitted on the same train
    tune_train = tuning_sample(train) if tune_days else train
    for name in order:
        if name in TEXT_CANDIDATES and items is None:
            continue
        start = time.perf_counter()
        given, validation, trials = params.get(name), None, []
        if given is None and tune_days:
            base = None
            if name == "hybrid" and "ease" in chosen:
                base = {p: chosen["ease"][p] for p in HYBRID_FROM_EASE}
            given, validation, trials = tune_candidate(
                name,
                tune_train,
                tune_days,
                items,
                k,
                base=base,
                min_rating=min_rating,
                cache=tune_cache,
                max_users=None,  # sampled once above for every method
            )
        tune_seconds = time.perf_counter() - start
        start = time.perf_counter()
        model = fit_candidate(name, train, given, items, fit_cache, min_rating=min_rating)
        for cache in (tune_cache, fit_cache):
            rs.forget_user_weights(cache)
        seconds = time.perf_counter() - start
        chosen[name] = dict(model.params)
        lists_ex = dict(zip(users_ex, model.recommend_batch(users_ex, k, True), strict=True))
        lists_in = dict(zip(users_in, model.recommend_batch(users_in, k, False), strict=True))
        results.append(
            CandidateResult(
                name=name,
                params=dict(model.params),
                train_seconds=seconds,
                excluded=evaluate_topk(lists_ex, truth_ex, k, catalog),
                included=evaluate_topk(lists_in, truth_in, k, catalog),
                cold_items=_segment_metrics(lists_ex, segments["cold_items"], k, catalog),
                light_customers=_segment_metrics(lists_ex, segments["light_customers"], k, catalog),
                validation_ndcg=validation,
                tune_seconds=tune_seconds,
                trials=trials,
            )
        )
        models[name] = model
    rank = {name: i for i, name in enumerate(candidates)}
    results.sort(key=lambda r: rank[r.name])
    return results, {r.name: models[r.name] for r in results}


def compare_candidates(
    interactions: pd.DataFrame,
    holdout_days: int,
    candidates: Sequence[str] = CANDIDATES,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    k: int = 10,
    items: pd.DataFrame | None = None,
    tune_days: int | None = None,
    min_rating: float | None = None,
) -> tuple[list[CandidateResult], dict[str, RecommenderModel], pd.DataFrame, pd.DataFrame]:
    """:func:`score_candidates` on the temporal split of ``interactions`` (for the benches);
    the test part returned holds the relevant rows only."""
    train, test, _ = temporal_split(interactions, holdout_days)
    results, models = score_candidates(
        train, test, candidates, params, k, items, tune_days, min_rating
    )
    return results, models, train, relevant(test, min_rating)


def _precision_curve_figure(models: Mapping[str, Any], train: pd.DataFrame, test: pd.DataFrame):
    from models.tracking import figure

    fig, ax = figure()
    ks = [1, 2, 3, 5, 10, 15, 20]
    truth = holdout_truth(train, test, exclude_bought=True)
    catalog = train["item_id"].nunique()
    for name, model in models.items():
        _, lists = _holdout_lists(model, train, test, max(ks), True, truth)
        values = [
            evaluate_topk({u: r[:k] for u, r in lists.items()}, truth, k, catalog)[
                f"precision_at_{k}"
            ]
            for k in ks
        ]
        ax.plot(ks, values, marker="o", label=name)
    ax.set_xlabel("k")
    ax.set_ylabel("precision@k (bought excluded)")
    ax.set_title("Hold-out precision@k by candidate")
    ax.legend()
    return fig


class RecommendationFamily(ModelFamily):
    """Recommendations: every method tuned on a validation split, compared on a temporal
    hold-out, the best served.

    Methods are tuned on the last ``holdout_days`` before the cut-off, fitted before the
    cut-off and scored after it. The gate compares configurations, not artifacts: the
    champion's method and parameters are refitted on the same pre-cut-off data and scored on
    the same hold-out, so neither side has seen it. The version registered is the winning
    configuration refitted on all the data, so the service knows every purchase up to the last
    day (for exclude-bought and for new customers).
    """

    name = "recommendation"
    registered_model = MODEL_NAME
    experiment = EXPERIMENT
    reads = (
        "mart fct_order_lines (purchases, cancellations out) as implicit feedback, "
        "dim_products descriptions as item text"
    )
    metric = PRIMARY_METRIC
    minimum = MINIMUM_NDCG
    chance = 0.0
    api = "serving.apis.recommendation"
    summary = "products for a customer and similar products (EASE, user-kNN, content, hybrid)"
    #: None: implicit feedback (every hold-out purchase is relevant); a number: explicit stars,
    #: hold-out items rated at least this well are relevant (``models.rating_recommendation``)
    min_rating: float | None = None

    def __init__(
        self,
        candidates: Sequence[str] = METHODS,
        params: Mapping[str, Mapping[str, Any]] | None = None,
        k: int = 10,
        tune: bool = True,
    ) -> None:
        self.candidates = tuple(candidates)
        self.params = params
        self.k = k
        self.tune = tune

    def load_data(self, settings: Settings) -> RecommendationData:
        return load_recommendation_data(settings)

    def split(self, data: pd.DataFrame | RecommendationData, settings: Settings) -> Split:
        items = None
        if isinstance(data, RecommendationData):
            data, items = data.interactions, data.items
        interactions = normalize_interactions(data)
        if items is not None:
            items = normalize_items(items)
        train, test, cutoff = temporal_split(interactions, settings.holdout_days)
        test = relevant(test, self.min_rating)
        info = {
            "holdout_days": settings.holdout_days,
            "validation_days": settings.holdout_days if self.tune else 0,
            "n_train_interactions": len(train),
            "n_test_interactions": len(test),
            "n_items_with_text": 0 if items is None else len(items),
            "relevant": "every purchase"
            if self.min_rating is None
            else f"items rated >= {self.min_rating:g}",
        }
        return RecommendationSplit(train, test, interactions, info, items=items)

    def fit(self, split: Split, settings: Settings) -> Fitted:
        k = self.k
        items = getattr(split, "items", None)
        results, models = score_candidates(
            split.train,
            split.holdout,
            self.candidates,
            self.params,
            k,
            items,
            tune_days=settings.holdout_days if self.tune else None,
            min_rating=self.min_rating,
        )
        best = max(results, key=lambda r: r.excluded[f"ndcg_at_{k}"])
        floor = next((r.excluded[f"ndcg_at_{k}"] for r in results if r.name == "popularity"), None)
        served = fit_candidate(best.name, split.data, best.params, items)
        return Fitted(
            model=models[best.name],
            served=served,
            input_example=pd.DataFrame({"customer_id": [str(served.user_ids[0])]}),
            pyfunc_params={"k": k, "exclude_bought": True},
            params={
                "k": k,
                "seed": settings.seed,
                "candidates": ",".join(r.name for r in results),
                "champion_candidate": best.name,
                "tuned_on": "validation split" if self.tune else "defaults",
                "tune_max_users": TUNE_MAX_USERS,
                "neighbour_pool": rs.NEIGHBOUR_POOL,
                **{f"{r.name}.{p}": v for r in results for p, v in r.params.items()},
            },
            metrics={
                **{f"{key}_incl_bought": float(v) for key, v in best.included.items()},
                "n_served_interactions": float(len(split.data)),
            },
            floor=floor,
            tags={"algorithm": served.algorithm},
            details={"algorithm": served.algorithm, "candidates": results},
            run_name=f"recommender-{best.name}",
            state={"models": models},
        )

    def evaluate(self, model: Any, split: Split, fitted: Fitted) -> Evidence:
        return recommendation_evidence(model, split.train, split.holdout, self.k)

    def groups(self, split: Split, settings: Settings) -> dict[str, Any]:
        """Country group and tenure cohort at the cut-off of each hold-out user, in the order
        of :func:`models.metrics.topk_per_user` (the evidence's units)."""
        from models.fairness import customer_groups

        truth = holdout_truth(split.train, split.holdout, exclude_bought=True)
        users = [u for u, items in truth.items() if items]
        if not users:
            return {}
        return customer_groups(settings, users, pd.Timestamp(split.holdout["timestamp"].min()))

    def evaluate_champion(self, champion: Any, split: Split, fitted: Fitted) -> Evidence:
        """The champion's configuration refitted before the cut-off, like the challenger."""
        items = getattr(split, "items", None)
        return self.evaluate(refit(champion, split.train, items), split, fitted)

    def log(self, fitted: Fitted, split: Split) -> None:
        import mlflow

        from models import tracking

        results = fitted.details["candidates"]
        for r in results:
            mlflow.log_metrics({f"{r.name}.{m}": v for m, v in r.excluded.items()})
            mlflow.log_metrics({f"{r.name}.incl_bought.{m}": v for m, v in r.included.items()})
            for segment, values in (("cold", r.cold_items), ("light", r.light_customers)):
                if values:
                    mlflow.log_metrics({f"{r.name}.{segment}.{m}": v for m, v in values.items()})
            mlflow.log_metric(f"{r.name}.train_seconds", r.train_seconds)
            mlflow.log_metric(f"{r.name}.tune_seconds", r.tune_seconds)
            if r.validation_ndcg is not None:
                mlflow.log_metric(f"{r.name}.validation_ndcg_at_{self.k}", r.validation_ndcg)
        mlflow.log_table(candidates_table(results, self.k), "candidates.json")
        trials = [t for r in results for t in r.trials]
        if trials:
            mlflow.log_table(pd.DataFrame(trials), "tuning.json")
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
    """One row per method and evaluation: all users (bought excluded, included), cold items
    and light customers (bought excluded): the README/bench table."""
    rows = []
    for r in results:
        evaluations = [
            ("all", "excluded", r.excluded),
            ("all", "included", r.included),
            ("cold items", "excluded", r.cold_items),
            ("light customers", "excluded", r.light_customers),
        ]
        for users, mode, metrics in evaluations:
            if metrics:
                rows.append(
                    {
                        "model": r.name,
                        "users_of": users,
                        **table_row(metrics, k, mode, r.train_seconds),
                    }
                )
    return pd.DataFrame(rows)


FAMILY = RecommendationFamily()
