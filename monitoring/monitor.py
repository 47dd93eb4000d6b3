"""One monitor run: every monitored champion's drift, realised performance and freshness.

For each family whose champion logged a reference profile (``models.profile``), the newest
snapshot of its source mart is compared with the profile input by input
(``monitoring.drift``), the champion scores that snapshot (prediction drift), and the scores of
propensity and churn are kept for the realised-performance check of later runs
(``monitoring.realised``); so are the recommender's top-k lists for its known customers, judged
later on the purchases that followed. Freshness covers every mart and the online store. The
result is a JSON-able dictionary, kept as ``<home>/monitoring/results/<run>.json`` and
``latest.json``, with an HTML report beside it in ``reports/``. :func:`check_family` and
:func:`alerts` are pure, so the statistics are tested on frames.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mercato.settings import Settings
from monitoring import latest_result_path
from monitoring.drift import Limits, compare_frame, compare_scores
from monitoring.freshness import mart_ages, online_store_age
from monitoring.realised import (
    LABELLED,
    RANKED,
    read_predictions,
    score_matured,
    score_ranked,
    write_predictions,
    write_ranked,
)

RESULTS = "results"
REPORTS = "reports"
LATEST = "latest.json"


class MonitorAlert(RuntimeError):
    """A monitored figure crossed its limit; ``result`` is the whole monitor result."""

    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


def limits_of(settings: Settings) -> Limits:
    return Limits(
        psi_max=settings.monitor_psi_max,
        p_value=settings.monitor_p_value,
        prediction_psi_max=settings.monitor_prediction_psi_max,
    )


def check_family(
    profile: dict[str, Any], frame: pd.DataFrame, scores: np.ndarray, limits: Limits
) -> dict[str, Any]:
    """One family's drift: every input of ``profile`` against ``frame``, and its scores."""
    features = compare_frame(profile, frame, limits)
    prediction = compare_scores(profile, scores, limits)
    return {
        "features": [d.to_dict() for d in features],
        "prediction": prediction.to_dict(),
        "drifted": [d.feature for d in features if d.drifted],
        "prediction_drifted": prediction.drifted,
        "reference_snapshot": profile.get("snapshot_at"),
    }


def alerts(result: dict[str, Any], min_realised_auc: float) -> tuple[list[str], list[str]]:
    """(messages naming each crossed limit, families to retrain) of a monitor result."""
    messages: list[str] = []
    retrain: list[str] = []
    limits = result["limits"]
    for family, part in result["families"].items():
        if part.get("skipped"):
            continue
        for d in part["features"]:
            if d["drifted"]:
                messages.append(
                    f"{family}: feature {d['feature']} drifted (PSI {d['psi']:.3f} > "
                    f"{limits['psi_max']}, {d['test']} p={d['p_value']:.2g})"
                )
        if part["prediction_drifted"]:
            d = part["prediction"]
            messages.append(
                f"{family}: prediction drifted (PSI {d['psi']:.3f} > "
                f"{limits['prediction_psi_max']})"
            )
        if part["drifted"] or part["prediction_drifted"]:
            retrain.append(family)
    if min_realised_auc > 0:
        for family, r in _newest(result.get("realised", [])).items():
            if r["roc_auc"] is not None and r["roc_auc"] < min_realised_auc:
                messages.append(
                    f"{family}: realised roc_auc {r['roc_auc']:.3f} < {min_realised_auc} "
                    f"(predictions as of {r['as_of']}, v{r['model_version']})"
                )
                if family not in retrain:
                    retrain.append(family)
    min_lift = limits.get("min_realised_lift", 0)
    if min_lift > 0:
        for family, r in _newest(result.get("realised_topk", [])).items():
            if r["lift"] is not None and r["lift"] < min_lift:
                ndcg = f"ndcg_at_{r['k']}"
                messages.append(
                    f"{family}: realised {ndcg} {r['metrics'][ndcg]:.4f} is {r['lift']:.2f}x "
                    f"popularity's {r['popularity'][ndcg]:.4f} on the purchases that followed "
                    f"(< {min_lift}x; lists as of {r['as_of']}, v{r['model_version']})"
                )
                if family not in retrain:
                    retrain.append(family)
    for a in result.get("freshness", []):
        if a["stale"]:
            age = "never" if a["age_seconds"] is None else f"{a['age_seconds'] / 3600:.1f} h old"
            messages.append(f"freshness: {a['name']} is {age} (limit {a['limit_hours']} h)")
    return messages, retrain


def _profile(settings: Settings, name: str, version: str) -> dict[str, Any] | None:
    import mlflow

    from models import registry
    from models.profile import PROFILE_ARTIFACT

    run_id = registry.client(settings).get_model_version(name, version).run_id
    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{PROFILE_ARTIFACT}")
    except Exception:  # noqa: BLE001 - MLflow raises several kinds for a missing artifact
        return None


def _snapshot(settings: Settings, source: str, time_column: str) -> pd.DataFrame:
    from models.profile import latest_snapshot

    frame = latest_snapshot(settings, source, time_column)
    if frame is None or frame.empty:
        raise ValueError(f"mart {source} has no snapshot to monitor")
    return frame


def monitor_family(settings: Settings, family: Any, limits: Limits) -> dict[str, Any] | None:
    """Drift of one family's champion (None: no champion); logs propensity/churn scores."""
    from models import registry
    from models.profile import score_frame

    name = family.registered_model
    version = registry.champion_version(settings, name)
    if version is None:
        return None
    part: dict[str, Any] = {"model": name, "version": version}
    profile = _profile(settings, name, version)
    if profile is None:
        return {**part, "skipped": "the champion's run has no reference profile"}
    frame = _snapshot(settings, profile["source"], profile["time_column"])
    model = registry.load_version(settings, name, version)
    scores = score_frame(model, frame[list(profile["features"])])
    as_of = pd.Timestamp(frame[profile["time_column"]].iloc[0])
    if family.name in LABELLED and "customer_id" in frame.columns:
        write_predictions(settings.home, family.name, frame["customer_id"], scores, as_of, version)
    return {**part, "snapshot_at": str(as_of), **check_family(profile, frame, scores, limits)}


def _newest(scored: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The newest scored file of each family (the lists are oldest first)."""
    return {r["family"]: r for r in scored}


def _k(family: Any) -> int:
    """The list length a ranking family is judged at (its gate's ``k``)."""
    return int(getattr(family, "k", 10))


def _sample(ids: Any, n: int, seed: int) -> list[str]:
    """All of ``ids`` when there are at most ``n``, else a seeded sample of ``n`` (sorted)."""
    every = sorted(str(i) for i in ids)
    if len(every) <= n:
        return every
    picked = np.random.default_rng(seed).choice(len(every), size=n, replace=False)
    return [every[i] for i in sorted(picked)]


def monitor_ranked(
    settings: Settings, family: Any, interactions: pd.DataFrame
) -> dict[str, Any] | None:
    """Keep the recommender champion's top-k lists for its known customers as of the newest
    purchase (None: no champion). A list has no input distribution to compare: it is judged by
    realised performance only, once the purchases that follow it are in."""
    from models import registry
    from models.forgetting import FORGOTTEN

    name = family.registered_model
    version = registry.champion_version(settings, name)
    if version is None or interactions.empty:
        return None
    model = registry.load_version(settings, name, version)
    k = _k(family)
    known = [u for u in model.user_ids if str(u) != FORGOTTEN]  # forgotten: no list kept
    customers = _sample(known, settings.monitor_ranked_customers, settings.seed)
    lists = model.recommend_batch(customers, k=k, exclude_bought=True)
    as_of = pd.Timestamp(interactions["timestamp"].max())
    write_ranked(settings.home, family.name, customers, lists, as_of, version)
    return {
        "model": name,
        "version": version,
        "snapshot_at": str(as_of),
        "skipped": (
            f"no input drift for top-k lists: {len(customers):,} customers' top-{k} lists as of "
            f"{as_of} are kept and judged on the purchases that follow them"
        ),
    }


def realised_ranked(
    settings: Settings, interactions: pd.DataFrame, ks: dict[str, int]
) -> list[dict[str, Any]]:
    """Every kept file of top-k lists whose window has passed, scored (oldest first)."""
    out = []
    for family, k in ks.items():
        for predictions in read_predictions(settings.home, family):
            scored = score_ranked(family, predictions, interactions, settings.holdout_days, k)
            if scored is not None:
                out.append(scored.to_dict())
    return out


def _interactions(settings: Settings) -> pd.DataFrame:
    """The recommenders' purchases (``models.recommendation``), empty before the first build."""
    from models.recommendation import build_recommendation_data
    from warehouse import reader

    if reader.query_if_built(settings, "select 1 from main.fct_order_lines limit 1") is None:
        return pd.DataFrame(columns=["user_id", "item_id", "rating", "timestamp"])
    return build_recommendation_data(settings)


def realised(settings: Settings) -> list[dict[str, Any]]:
    """Every kept prediction file whose labels have matured, scored (oldest first)."""
    from warehouse import reader

    horizons = {
        "propensity": settings.propensity_horizon_days,
        "churn": settings.churn_horizon_days,
    }
    kept = {family: read_predictions(settings.home, family) for family in LABELLED}
    if not any(kept.values()):
        return []
    orders = reader.query_if_built(
        settings,
        "select distinct customer_id, ordered_at from main.fct_order_lines "
        "where not is_cancellation",
    )
    if orders is None or orders.empty:
        return []
    out = []
    for family, files in kept.items():
        for predictions in files:
            scored = score_matured(family, predictions, orders, horizons[family])
            if scored is not None:
                out.append(scored.to_dict())
    return out


def run(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """Monitor every champion, write the result and the report, and return the result."""
    from models.family import ModelFamily, families

    now = now or datetime.now(UTC)
    limits = limits_of(settings)
    run_id = f"{now:%Y%m%dT%H%M%S%fZ}"
    result: dict[str, Any] = {
        "run": run_id,
        "at": now.isoformat(),
        "limits": {
            **limits.__dict__,
            "min_realised_auc": settings.monitor_min_realised_auc,
            "min_realised_lift": settings.monitor_min_realised_lift,
        },
        "families": {},
    }
    ranked = [f for f in families(settings) if f.name in RANKED]
    interactions = _interactions(settings) if ranked else pd.DataFrame()
    for family in families(settings):
        if family.name in RANKED:
            part = monitor_ranked(settings, family, interactions)
        elif type(family).reference_profile is ModelFamily.reference_profile:
            continue  # the family logs no profile: nothing to compare with
        else:
            part = monitor_family(settings, family, limits)
        if part is not None:
            result["families"][family.name] = part
    result["realised"] = realised(settings)
    ks = {f.name: _k(f) for f in ranked}
    result["realised_topk"] = realised_ranked(settings, interactions, ks) if ks else []
    ages = mart_ages(settings, settings.monitor_mart_max_age_hours, now)
    result["freshness"] = [a.to_dict() for a in [*ages, online_store_age(settings, now)]]
    result["alerts"], result["retrain"] = alerts(result, settings.monitor_min_realised_auc)
    return write(settings, result)


def write(settings: Settings, result: dict[str, Any]) -> dict[str, Any]:
    """Keep ``result`` as JSON (and as ``latest.json``) with its HTML report beside it."""
    from monitoring.report import render

    folder = settings.monitoring_dir
    (folder / RESULTS).mkdir(parents=True, exist_ok=True)
    (folder / REPORTS).mkdir(parents=True, exist_ok=True)
    report = folder / REPORTS / f"{result['run']}.html"
    report.write_text(render(result))
    result["report"] = str(report)
    text = json.dumps(result, indent=2, default=str)
    (folder / RESULTS / f"{result['run']}.json").write_text(text)
    tmp = folder / RESULTS / (LATEST + ".tmp")
    tmp.write_text(text)
    tmp.replace(folder / RESULTS / LATEST)
    return result


def latest_result(settings: Settings) -> dict[str, Any] | None:
    """The newest monitor result, or None before the first run (or if it cannot be read)."""
    path: Path = latest_result_path(settings)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


RETRAIN_REQUESTS = "retrain_requests.json"


def request_retrain(settings: Settings, result: dict[str, Any]) -> list[str]:
    """The families of ``result["retrain"]`` whose champion version was not sent to retraining
    before (``result``: a monitor result, or its ``retrain`` and ``families``), recorded so
    that a champion the gate keeps (its drift unchanged) is not retrained at every run."""
    path = settings.monitoring_dir / RETRAIN_REQUESTS
    try:
        asked: dict[str, list[str]] = json.loads(path.read_text())
    except (OSError, ValueError):
        asked = {}
    versions = {f: str(p.get("version")) for f, p in result.get("families", {}).items()}
    new = [f for f in result.get("retrain", []) if versions.get(f) not in asked.get(f, [])]
    for family in new:
        asked.setdefault(family, []).append(versions.get(family, "?"))
    if new:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asked, indent=2, sort_keys=True))
    return new
