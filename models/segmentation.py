"""Customer segments from RFM behaviour: KMeans in a standardised log space.

Recency, frequency and monetary value are heavily skewed, so each is ``log1p``-transformed
(monetary clipped at 0: net refunds are no spend) and standardised before KMeans. The number of
segments is chosen by silhouette over ``k_range`` (the curve is logged). Segment ids are stable:
new centroids are matched to the champion's (Hungarian matching in the new standardised space)
and matched segments keep their ids; without a champion ids are ordered by monetary value, so
segment 0 is always the highest-spending one. Each segment gets a profile and a readable name
derived from where its medians fall among all customers (e.g. "active loyal high spenders").

The gate judges on a hold-out of customers (20 %, seeded): the challenger and the champion
assign those customers and both labelings are scored by silhouette in the challenger's space.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mercato.settings import Settings, get_settings
from models.family import Fitted, ModelFamily, Split
from models.gate import Evidence, mean_evidence
from models.tracking import single_openmp_thread

if TYPE_CHECKING:
    from models.pyfunc import SegmentationModel

MODEL_NAME = "mercato_segmentation"
EXPERIMENT = "mercato_segmentation"
FEATURE_SERVICE = "segmentation_v1"
CLUSTER_FEATURES = ["recency_days", "frequency", "monetary"]
LOG_FEATURES = ["recency_days", "frequency", "monetary"]
K_RANGE = range(3, 9)
PRIMARY_METRIC = "silhouette"
#: Below this silhouette the segments are not separated enough to name them.
MINIMUM_SILHOUETTE = 0.1
#: Matched centroids farther apart than this (in standard deviations) get a new id instead.
MAX_MATCH_DISTANCE = 1.0


# -- data ------------------------------------------------------------------------------------
def build_segmentation_data(settings: Settings | None = None) -> pd.DataFrame:
    """Feature service ``segmentation_v1`` for every customer at the latest snapshot."""
    from features import store
    from warehouse import reader

    settings = settings or get_settings()
    entities = reader.query(
        settings,
        """
        select customer_id, snapshot_at as event_timestamp
        from main.customer_features
        where snapshot_at = (select max(snapshot_at) from main.customer_features)
        order by customer_id
        """,
    )
    return store.get_training_set(settings, entities, FEATURE_SERVICE)


# -- fitting ---------------------------------------------------------------------------------
def _log_space(df: pd.DataFrame) -> np.ndarray:
    x = df[CLUSTER_FEATURES].astype(float).fillna(0.0).to_numpy().copy()
    mask = np.array([f in LOG_FEATURES for f in CLUSTER_FEATURES])
    x[:, mask] = np.log1p(np.clip(x[:, mask], 0.0, None))
    return x


def _raw(df: pd.DataFrame) -> np.ndarray:
    """The raw cluster features as a float array (what ``assign_many`` takes)."""
    return df[CLUSTER_FEATURES].astype(float).fillna(0.0).to_numpy()


def _percentile(population: np.ndarray, value: float) -> float:
    """Mid-rank percentile of ``value`` in ``population`` (ties count half)."""
    return float((population < value).mean() + 0.5 * (population == value).mean())


def _name(recency_pct: float, frequency_pct: float, monetary_pct: float) -> str:
    recency = "active" if recency_pct < 1 / 3 else "cooling" if recency_pct < 2 / 3 else "lapsed"
    frequency = (
        "occasional" if frequency_pct < 1 / 3 else "regular" if frequency_pct < 2 / 3 else "loyal"
    )
    monetary = "low" if monetary_pct < 1 / 3 else "mid" if monetary_pct < 2 / 3 else "high"
    return f"{recency} {frequency} {monetary} spenders"


def segment_profiles(df: pd.DataFrame, labels: np.ndarray) -> dict[int, dict]:
    """Size, share, feature means/medians and a name for every segment id in ``labels``."""
    profiles: dict[int, dict] = {}
    pop = {f: df[f].astype(float).to_numpy() for f in CLUSTER_FEATURES}
    for seg in sorted(np.unique(labels)):
        members = df[labels == seg]
        medians = {f: float(members[f].median()) for f in CLUSTER_FEATURES}
        pct = {f: _percentile(pop[f], medians[f]) for f in CLUSTER_FEATURES}
        profiles[int(seg)] = {
            "size": int(len(members)),
            "share": float(len(members) / len(df)),
            **{f"mean_{f}": float(members[f].mean()) for f in CLUSTER_FEATURES},
            **{f"median_{f}": medians[f] for f in CLUSTER_FEATURES},
            # low recency is good: an "active" segment sits in the lowest third of recency
            "name": _name(pct["recency_days"], pct["frequency"], pct["monetary"]),
        }
    seen: dict[str, int] = {}
    for seg in sorted(profiles, key=lambda s: -profiles[s]["size"]):
        base = profiles[seg]["name"]
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            profiles[seg]["name"] = f"{base} ({seen[base]})"
    return profiles


def match_ids(
    centroids: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    reference: SegmentationModel | None,
    order_key: np.ndarray,
) -> np.ndarray:
    """An id per new centroid: the matched reference id, or a fresh one.

    ``centroids`` are in the new standardised space; the reference's log-space centroids are
    standardised with the new scaler so both sit in one space. Fresh ids are handed out in
    descending ``order_key`` (monetary) after the reference's largest id.
    """
    from scipy.optimize import linear_sum_assignment

    ids = np.full(len(centroids), -1, dtype=np.int64)
    next_id = 0
    if reference is not None and list(reference.feature_names) == CLUSTER_FEATURES:
        ref = (reference.log_space_centroids() - mean) / scale
        cost = np.sqrt(((centroids[:, None, :] - ref[None, :, :]) ** 2).sum(axis=2))
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows, cols, strict=True):
            if cost[r, c] <= MAX_MATCH_DISTANCE:
                ids[r] = reference.segment_ids[c]
        next_id = int(reference.segment_ids.max()) + 1
    for r in np.argsort(-order_key, kind="stable"):
        if ids[r] < 0:
            ids[r] = next_id
            next_id += 1
    return ids


def fit_segmentation(
    df: pd.DataFrame,
    seed: int = 42,
    k_range: Sequence[int] = K_RANGE,
    reference: SegmentationModel | None = None,
    k: int | None = None,
) -> tuple[SegmentationModel, dict[int, dict[str, float]]]:
    """Fit KMeans for each k (or the given ``k``), keep the best by silhouette.

    Returns the model and the selection curve ``{k: {"silhouette", "inertia"}}``.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    from models.pyfunc import SegmentationModel

    x = _log_space(df)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    sample = min(len(z), 4000)
    curve: dict[int, dict[str, float]] = {}
    fits = {}
    for kk in [k] if k is not None else k_range:
        if kk >= len(z):
            continue
        with single_openmp_thread():
            km = KMeans(n_clusters=kk, n_init=10, random_state=seed).fit(z)
        score = silhouette_score(z, km.labels_, sample_size=sample, random_state=seed)
        curve[kk] = {"silhouette": float(score), "inertia": float(km.inertia_)}
        fits[kk] = km
    if not fits:
        raise ValueError(f"too few customers ({len(z)}) for k in {list(k_range)}")
    best = max(curve, key=lambda kk: curve[kk]["silhouette"])
    km = fits[best]
    ids = match_ids(
        km.cluster_centers_,
        mean,
        scale,
        reference,
        km.cluster_centers_[:, CLUSTER_FEATURES.index("monetary")],
    )
    labels = ids[km.labels_]
    model = SegmentationModel(
        CLUSTER_FEATURES,
        LOG_FEATURES,
        mean,
        scale,
        km.cluster_centers_,
        ids,
        segment_profiles(df, labels),
    )
    return model, curve


# -- evaluation ------------------------------------------------------------------------------
#: Silhouette is computed on at most this many customers (it is quadratic in their number).
SILHOUETTE_SAMPLE = 4000


def _silhouettes(
    model: Any, df: pd.DataFrame, space: SegmentationModel | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(per-customer silhouettes of a seeded sample, all labels, ``df`` in ``space``)."""
    from sklearn.metrics import silhouette_samples

    space = space or model
    labels = model.assign_many(df[model.feature_names].astype(float).fillna(0.0).to_numpy())
    z = space.transform(_raw(df))
    sample = np.random.RandomState(0).permutation(len(z))[: min(len(z), SILHOUETTE_SAMPLE)]
    if len(np.unique(labels[sample])) < 2:
        return np.full(len(sample), -1.0), labels, z
    return silhouette_samples(z[sample], labels[sample]), labels, z


def _segmentation_metrics(silhouettes: np.ndarray, labels: np.ndarray, z: np.ndarray) -> dict:
    from sklearn.metrics import davies_bouldin_score

    if len(np.unique(labels)) < 2:
        return {"silhouette": -1.0, "davies_bouldin": float("inf"), "n_segments": 1.0}
    return {
        "silhouette": float(silhouettes.mean()),
        "davies_bouldin": float(davies_bouldin_score(z, labels)),
        "n_segments": float(len(np.unique(labels))),
    }


def evaluate_segmentation(
    model: Any, df: pd.DataFrame, space: SegmentationModel | None = None
) -> dict[str, float]:
    """Silhouette and Davies-Bouldin of ``model``'s labels on ``df``, in ``space``'s features.

    ``space`` defaults to the model itself; the gate passes the challenger so champion and
    challenger are scored in one space.
    """
    return _segmentation_metrics(*_silhouettes(model, df, space))


def segmentation_evidence(
    model: Any, df: pd.DataFrame, space: SegmentationModel | None = None
) -> Evidence:
    """The gate's view of a model: its metrics and the silhouette of each sampled customer."""
    silhouettes, labels, z = _silhouettes(model, df, space)
    return mean_evidence(_segmentation_metrics(silhouettes, labels, z), silhouettes)


def bootstrap_stability(
    model: SegmentationModel, df: pd.DataFrame, seed: int = 42, n_boot: int = 10
) -> float:
    """Mean adjusted Rand index between the model's labels and refits on bootstrap resamples."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score

    z = model.transform(_raw(df))
    base = model.assign_many(_raw(df))
    rng = np.random.default_rng(seed)
    scores = []
    for b in range(n_boot):
        idx = rng.integers(0, len(z), len(z))
        with single_openmp_thread():
            km = KMeans(n_clusters=len(model.segment_ids), n_init=3, random_state=seed + b)
            labels = km.fit(z[idx]).predict(z)
        scores.append(adjusted_rand_score(base, labels))
    return float(np.mean(scores))


def _curve_figure(curve: Mapping[int, Mapping[str, float]], chosen: int):
    from models.tracking import figure

    fig, ax = figure()
    ks = sorted(curve)
    ax.plot(ks, [curve[k]["silhouette"] for k in ks], marker="o", label="silhouette")
    ax.axvline(chosen, color="grey", linestyle="--", label=f"chosen k={chosen}")
    ax.set_xlabel("k")
    ax.set_ylabel("silhouette")
    ax2 = ax.twinx()
    ax2.plot(ks, [curve[k]["inertia"] for k in ks], marker="s", color="tab:orange", label="inertia")
    ax2.set_ylabel("inertia")
    ax.set_title("KMeans k selection")
    ax.legend(loc="upper right")
    return fig


def _profiles_figure(profiles: Mapping[int, Mapping[str, Any]]):
    from models.tracking import figure

    fig, axes = figure(12, 4)
    fig.clf()
    ids = sorted(profiles)
    labels = [f"{i}: {profiles[i]['name']}\n(n={profiles[i]['size']})" for i in ids]
    for n, feat in enumerate(CLUSTER_FEATURES, start=1):
        ax = fig.add_subplot(1, 3, n)
        ax.barh(labels, [profiles[i][f"median_{feat}"] for i in ids])
        ax.set_title(f"median {feat}")
        if n > 1:
            ax.set_yticklabels([])
    fig.tight_layout()
    return fig


#: Share of customers held out to judge the segments on.
HOLDOUT_SHARE = 0.2


class SegmentationFamily(ModelFamily):
    """Customer segments: KMeans on log RFM with stable ids, gated on silhouette.

    ``k_range`` is searched by silhouette; ``reference`` is the model whose segment ids new
    segments inherit: ``"champion"`` (the registered champion, when there is one), a model,
    or ``None``.
    """

    name = "segmentation"
    registered_model = MODEL_NAME
    experiment = EXPERIMENT
    reads = "Feast feature service segmentation_v1 at the latest snapshot of customer_features"
    feature_service = FEATURE_SERVICE
    metric = PRIMARY_METRIC
    minimum = MINIMUM_SILHOUETTE
    chance = 0.0
    api = "serving.apis.segmentation"
    summary = "customer segments from recency, frequency and spend (KMeans, stable ids)"

    def __init__(
        self,
        k_range: Sequence[int] = K_RANGE,
        reference: SegmentationModel | None | str = "champion",
    ) -> None:
        self.k_range = k_range
        self.reference = reference

    def load_data(self, settings: Settings) -> pd.DataFrame:
        return build_segmentation_data(settings)

    def split(self, data: pd.DataFrame, settings: Settings) -> Split:
        df = data.dropna(subset=["recency_days"]).reset_index(drop=True)
        hold = np.random.default_rng(settings.seed).random(len(df)) < HOLDOUT_SHARE
        fit_df, hold_df = df[~hold].reset_index(drop=True), df[hold].reset_index(drop=True)
        return Split(fit_df, hold_df, df, {"holdout_share": HOLDOUT_SHARE})

    def _reference(self, settings: Settings) -> SegmentationModel | None:
        from models import registry

        if not isinstance(self.reference, str):
            return self.reference
        try:
            model, _ = registry.load_champion(settings, MODEL_NAME)
        except LookupError:
            return None
        return model

    def fit(self, split: Split, settings: Settings) -> Fitted:
        """Choose k, fit with ids matched to the reference, profile every customer."""
        reference = self._reference(settings)
        model, curve = fit_segmentation(split.train, settings.seed, self.k_range, reference)
        k = len(model.segment_ids)
        train_metrics = evaluate_segmentation(model, split.train)
        # profiles over every customer, so sizes describe the whole base
        model.profiles = segment_profiles(split.data, model.assign_many(_raw(split.data)))
        return Fitted(
            model=model,
            input_example=split.data[CLUSTER_FEATURES].head(3).astype(float),
            params={
                "features": ",".join(CLUSTER_FEATURES),
                "log_features": ",".join(LOG_FEATURES),
                "k_range": f"{min(self.k_range)}-{max(self.k_range)}",
                "k": k,
                "seed": settings.seed,
                "id_reference": "none" if reference is None else "champion",
            },
            metrics={
                "silhouette_train": train_metrics["silhouette"],
                "davies_bouldin_train": train_metrics["davies_bouldin"],
                "stability_ari": bootstrap_stability(model, split.train, settings.seed),
                "k": float(k),
            },
            tags={"k": k},
            details={"k": k, "profiles": model.profiles, "k_curve": curve},
            run_name=f"segmentation-k{k}",
        )

    def evaluate(self, model: Any, split: Split, fitted: Fitted) -> Evidence:
        """Silhouette per hold-out customer, in the challenger's space (one space for both)."""
        return segmentation_evidence(model, split.holdout, space=fitted.model)

    def log(self, fitted: Fitted, split: Split) -> None:
        import mlflow

        from models import tracking

        curve, k, profiles = fitted.details["k_curve"], fitted.details["k"], fitted.model.profiles
        for kk, point in curve.items():
            mlflow.log_metric("k_curve_silhouette", point["silhouette"], step=kk)
            mlflow.log_metric("k_curve_inertia", point["inertia"], step=kk)
        mlflow.log_dict({str(kk): v for kk, v in curve.items()}, "k_selection.json")
        mlflow.log_dict({str(s): p for s, p in profiles.items()}, "segment_profiles.json")
        tracking.log_figure(_curve_figure(curve, k), "k_selection.png")
        tracking.log_figure(_profiles_figure(profiles), "segment_profiles.png")

    def reference_profile(
        self, fitted: Fitted, split: Split, settings: Settings
    ) -> dict[str, Any] | None:
        """The inputs and scores of the newest snapshot, for the drift monitor."""
        from models.profile import snapshot_profile

        return snapshot_profile(fitted.to_serve, settings, categorical=(), score_categorical=True)


FAMILY = SegmentationFamily()
