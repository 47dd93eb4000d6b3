"""MLflow model registry: register a version, gate it against the champion, promote, roll back.

Versions move only through aliases (``challenger``, ``champion``), never stages. Every new
version gets ``challenger``; :func:`register_and_gate` scores the current ``champion`` on the
same hold-out units (the caller passes a function that scores any model there) and lets the
rule of ``models.gate`` decide: ``champion`` moves only on evidence, a paired-bootstrap interval
of the improvement above ``settings.promotion_margin``. The decision, the interval, the metric
deltas and the time are written as version tags, so the registry explains itself.

Training is idempotent: a version carries a ``mercato.training_key`` tag (model name, data
version, parameters, settings that shape the model, the models' code and its hold-out metrics).
Training again with the same key, as an Airflow retry after a killed try does, reuses that
version: a finished one is returned with its recorded decision, and one left without a decision
is gated now, so a crash can neither duplicate a version nor leave one half-written.

The champion history (for :func:`rollback`) is a registered-model tag holding the list of
versions that were champion, oldest first. Gate, promote and rollback hold a per-model file lock
below ``settings.mlflow_dir`` so concurrent decisions on one machine cannot interleave.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import random
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mercato.names import CHALLENGER, CHAMPION
from mercato.settings import Settings
from models.fairness import report_tags
from models.gate import Evidence, GateError, Policy, decide

if TYPE_CHECKING:
    from mlflow import MlflowClient

HISTORY_TAG = "mercato.champion_history"
TRAINING_KEY_TAG = "mercato.training_key"


@dataclasses.dataclass(frozen=True)
class GateDecision:
    """What the gate decided for one new version, as written to its tags."""

    name: str
    version: str
    promoted: bool
    decision: str
    reason: str
    metric: str
    challenger_value: float
    champion_value: float | None
    champion_version: str | None
    deltas: dict[str, float] = dataclasses.field(default_factory=dict)
    decided_at: str = ""
    reused: bool = False
    #: paired-bootstrap interval of (challenger - champion), in the metric's direction
    interval: tuple[float, float] | None = None
    #: the champion collapsed on the new hold-out: the data, not the model, look wrong
    broken_data: bool = False
    #: metric per customer group and largest gaps (``models.fairness.report_tags``)
    fairness: dict[str, str] = dataclasses.field(default_factory=dict)


def training_key(
    settings: Settings,
    name: str,
    tags: Mapping[str, Any] | None,
    metrics: Mapping[str, float] | None = None,
) -> str:
    """Fingerprint of what determines a trained model: same key, same model.

    The hold-out metrics are part of it, so two models that differ in anything the tags do not
    name still get different keys.
    """
    from pathlib import Path

    code = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        code.update(path.read_bytes())
    material = {
        "name": name,
        "tags": {k: str(v) for k, v in sorted((tags or {}).items())},
        "seed": settings.seed,
        "holdout_days": settings.holdout_days,
        "horizon_days": settings.propensity_horizon_days,
        "snapshot_every_days": settings.snapshot_every_days,
        "code": code.hexdigest(),
        "metrics": {k: round(float(v), 10) for k, v in sorted((metrics or {}).items())},
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:24]


def _version_with_key(c: MlflowClient, name: str, key: str) -> Any | None:
    """The newest version of ``name`` trained with ``key``, if any (errors are raised)."""
    versions = c.search_model_versions(f"name='{name}'")
    matching = [v for v in versions if v.tags.get(TRAINING_KEY_TAG) == key]
    return max(matching, key=lambda v: int(v.version)) if matching else None


#: Version tags of a gate decision, written by :func:`_decision_tags` and read back by
#: :func:`_decision_from_tags`; a version has ``DECISION_TAG`` once its gate has finished.
DECISION_TAG = "gate.decision"
_DELTA_PREFIX = "gate.delta."


def _decision_tags(decision: GateDecision, policy: Policy) -> dict[str, str]:
    """The version tags that record ``decision`` (read back by :func:`_decision_from_tags`)."""
    champion_value = decision.champion_value
    interval = decision.interval
    return {
        DECISION_TAG: decision.decision,
        "gate.reason": decision.reason,
        "gate.metric": decision.metric,
        "gate.challenger_value": f"{decision.challenger_value:.6f}",
        "gate.champion_value": "" if champion_value is None else f"{champion_value:.6f}",
        "gate.champion_version": decision.champion_version or "",
        "gate.margin": str(policy.margin),
        "gate.minimum": "" if policy.minimum is None else str(policy.minimum),
        "gate.interval_low": "" if interval is None else f"{interval[0]:+.6f}",
        "gate.interval_high": "" if interval is None else f"{interval[1]:+.6f}",
        "gate.confidence": str(policy.confidence),
        "gate.bootstrap_samples": str(policy.samples),
        "gate.broken_data": str(decision.broken_data).lower(),
        "gate.decided_at": decision.decided_at,
        **{f"{_DELTA_PREFIX}{k}": f"{v:+.6f}" for k, v in decision.deltas.items()},
        **decision.fairness,
    }


def _decision_from_tags(name: str, version: str, tags: Mapping[str, str]) -> GateDecision:
    """The decision that :func:`_decision_tags` recorded on a version."""
    champion_value = tags.get("gate.champion_value") or None
    low, high = tags.get("gate.interval_low"), tags.get("gate.interval_high")
    return GateDecision(
        name=name,
        version=version,
        promoted=tags[DECISION_TAG] == "promoted",
        decision=tags[DECISION_TAG],
        reason=tags.get("gate.reason", ""),
        metric=tags.get("gate.metric", ""),
        challenger_value=float(tags.get("gate.challenger_value", "nan")),
        champion_value=None if champion_value is None else float(champion_value),
        champion_version=tags.get("gate.champion_version") or None,
        deltas={
            k.removeprefix(_DELTA_PREFIX): float(v)
            for k, v in tags.items()
            if k.startswith(_DELTA_PREFIX)
        },
        decided_at=tags.get("gate.decided_at", ""),
        interval=(float(low), float(high)) if low and high else None,
        broken_data=tags.get("gate.broken_data") == "true",
        fairness={k: v for k, v in tags.items() if k.startswith("fairness.")},
    )


def _recorded_decision(name: str, mv: Any) -> GateDecision:
    """The decision a version's gate tags record, for a training that reused that version."""
    recorded = _decision_from_tags(name, str(mv.version), mv.tags)
    return dataclasses.replace(
        recorded,
        promoted=False,  # this training moved nothing; the recorded decision is in ``decision``
        reason=f"unchanged: v{mv.version} was trained on the same data, parameters and code"
        f" ({recorded.reason})",
        reused=True,
    )


def client(settings: Settings) -> MlflowClient:
    """An MLflow client on ``settings.tracking_uri`` (also made the process default).

    The client limits of ``mercato.settings.MLFLOW_CLIENT_ENV`` apply to every caller, so an
    unreachable server fails a call in seconds, not after MLflow's four minutes of retries.
    """
    import mlflow

    from mercato.settings import apply_runtime_env

    apply_runtime_env()
    settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    if settings.tracking_uri.startswith("sqlite:"):
        with _schema_lock(settings):
            return mlflow.MlflowClient(settings.tracking_uri, settings.tracking_uri)
    return mlflow.MlflowClient(settings.tracking_uri, settings.tracking_uri)


@contextlib.contextmanager
def _schema_lock(settings: Settings) -> Iterator[None]:
    """Hold an exclusive lock on the data home's MLflow folder while a client opens SQLite.

    Why: the first client on a fresh database runs MLflow's schema migrations, and MLflow only
    checks that *all* tables exist before it starts them. Parallel training tasks on a new data
    home (Airflow runs them side by side) would each start the migrations, collide on
    ``_alembic_tmp_tags`` and leave the database half-migrated, failing every retry. Later
    clients find the tables and skip the migrations, so the lock costs only its own syscall.
    """
    with open(settings.mlflow_dir / ".schema.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


#: Errors a concurrent writer causes: SQLite's lock, and the unique-key race of two writers
#: that both computed the same next version number or both inserted the same alias.
_TRANSIENT = ("database is locked", "unique constraint failed", "integrityerror")


def _retry(fn: Callable[[], Any], attempts: int = 10) -> Any:
    """Run ``fn`` again (with jittered back-off) when a concurrent writer got in the way."""
    for i in range(attempts):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - MLflow wraps SQLAlchemy errors in several types
            text = str(exc).lower()
            if not any(t in text for t in _TRANSIENT) or i == attempts - 1:
                raise
            time.sleep(random.uniform(0.02, 0.05) * 2 ** min(i, 5))
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _model_lock(settings: Settings, name: str) -> Iterator[None]:
    settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.mlflow_dir / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def register(
    settings: Settings,
    name: str,
    model_uri: str,
    run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
) -> str:
    """Create a new version of ``name`` from ``model_uri`` with alias ``challenger``."""
    from mlflow.exceptions import MlflowException

    c = client(settings)
    try:
        c.get_registered_model(name)
    except MlflowException:
        try:
            _retry(lambda: c.create_registered_model(name))
        except MlflowException as exc:  # a concurrent caller created it first
            text = str(exc).lower()
            if "already exists" not in text and "unique constraint" not in text:
                raise
    model_id = model_uri.split("/", 1)[1] if model_uri.startswith("models:/m-") else None
    mv = _retry(
        lambda: c.create_model_version(
            name,
            source=model_uri,
            run_id=run_id,
            tags={k: str(v) for k, v in (tags or {}).items()},
            model_id=model_id,
        )
    )
    _retry(lambda: c.set_registered_model_alias(name, CHALLENGER, mv.version))
    return str(mv.version)


def _is_absent(exc: Exception) -> bool:
    """True when MLflow says the model or the alias does not exist (not an outage)."""
    code = str(getattr(exc, "error_code", ""))
    text = str(exc).lower()
    return code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE") and (
        "not found" in text or "does not exist" in text
    )


def champion_version(settings: Settings, name: str) -> str | None:
    """The version that alias ``champion`` points to, or ``None`` when there is none.

    Only "no such model" and "no such alias" mean no champion; any other error (the tracking
    server unreachable or timing out, a broken database) is raised, because treating an outage
    as "no champion" would let any challenger through.
    """
    from mlflow.exceptions import MlflowException

    c = client(settings)
    try:
        return str(c.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException as exc:
        if _is_absent(exc):
            return None
        raise


def load_version(settings: Settings, name: str, version: str) -> Any:
    """The unwrapped Python model object of one version, with forgotten customers dropped from
    its per-customer lookups (``models.forgetting``)."""
    import mlflow.pyfunc

    from models.forgetting import forget_in_model, suppressed_matcher

    client(settings)
    model = mlflow.pyfunc.load_model(f"models:/{name}/{version}").unwrap_python_model()
    match = suppressed_matcher(settings)
    if match is not None:
        forget_in_model(model, match)
    return model


def load_champion(settings: Settings, name: str) -> tuple[Any, str]:
    """(unwrapped champion model, its version); ``LookupError`` when there is no champion."""
    import mlflow.pyfunc

    client(settings)
    version = champion_version(settings, name)
    if version is None:
        raise LookupError(f"{name} has no champion yet")
    model = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}").unwrap_python_model()
    return model, version


def _history(c: MlflowClient, name: str) -> list[str]:
    raw = c.get_registered_model(name).tags.get(HISTORY_TAG, "[]")
    try:
        return [str(v) for v in json.loads(raw)]
    except ValueError:
        return []


def _set_champion(c: MlflowClient, name: str, version: str) -> None:
    c.set_registered_model_alias(name, CHAMPION, version)
    history = _history(c, name)
    if not history or history[-1] != version:
        history.append(version)
    c.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[-100:]))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def promote(
    settings: Settings, name: str, version: str | int, reason: str = "manual"
) -> dict[str, str | None]:
    """Point ``champion`` at ``version`` (people use this via ``mercato promote``)."""
    c = client(settings)
    version = str(version)
    with _model_lock(settings, name):
        c.get_model_version(name, version)  # raises for a version that does not exist
        previous = champion_version(settings, name)
        _set_champion(c, name, version)
        c.set_model_version_tag(name, version, "gate.promoted_at", _now())
        c.set_model_version_tag(name, version, "gate.promoted_by", reason)
    return {"name": name, "champion": version, "previous_champion": previous}


def rollback(settings: Settings, name: str) -> dict[str, str | None]:
    """Give ``champion`` back to the previous champion (``champion`` in the answer)."""
    c = client(settings)
    with _model_lock(settings, name):
        current = champion_version(settings, name)
        history = _history(c, name)
        while history and history[-1] == current:
            history.pop()
        if not history:
            raise LookupError(f"{name} has no previous champion to roll back to")
        previous = history[-1]
        c.set_registered_model_alias(name, CHAMPION, previous)
        c.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
        if current is not None:
            c.set_model_version_tag(name, current, "gate.rolled_back_at", _now())
        c.set_model_version_tag(name, previous, "gate.restored_at", _now())
    return {"name": name, "champion": previous, "rolled_back": current}


def champions(settings: Settings) -> dict[str, str | None]:
    """The champion version of every family's model (``None`` where there is none yet)."""
    from models.family import families

    return {
        f.registered_model: champion_version(settings, f.registered_model)
        for f in families(settings)
    }


def register_and_gate(
    settings: Settings,
    name: str,
    model_uri: str,
    run_id: str | None,
    challenger: Evidence,
    evidence: Callable[[Any], Evidence],
    policy: Policy,
    floor: float | None = None,
    tags: Mapping[str, Any] | None = None,
) -> GateDecision:
    """Register ``model_uri`` as a challenger and promote it only on evidence that it is better.

    ``challenger`` is the new model's evidence on the hold-out; ``evidence(model)`` scores any
    unwrapped model on the *same* hold-out units, and is applied to the current champion so the
    two can be compared pair by pair (``models.gate`` holds the rule). ``floor`` is a baseline
    (e.g. popularity) the challenger must beat by the margin even when there is no champion.

    Raises :class:`models.gate.GateError` when the champion cannot be read or scored (an MLflow
    outage, a failed artifact download): the challenger keeps its alias, ``champion`` does not
    move, and a retry with the same training finishes the decision.
    """
    key = training_key(settings, name, tags, challenger.metrics)

    def gate() -> GateDecision:
        c = client(settings)
        metrics = {k: float(v) for k, v in challenger.metrics.items()}
        existing = _version_with_key(c, name, key)
        if existing is not None and DECISION_TAG in existing.tags:
            return _recorded_decision(name, existing)
        if existing is not None:
            version = str(existing.version)
            _retry(lambda: c.set_registered_model_alias(name, CHALLENGER, version))
        else:
            version = register(
                settings, name, model_uri, run_id, {**(tags or {}), TRAINING_KEY_TAG: key}
            )
        champ_version, champ_evidence, recorded = _champion_evidence(settings, c, name, evidence)
        verdict = decide(policy, challenger, champ_evidence, recorded, champ_version, floor=floor)
        comparison = verdict.comparison
        champ_metrics = dict(champ_evidence.metrics) if champ_evidence else {}
        decision = GateDecision(
            name=name,
            version=version,
            promoted=verdict.promoted,
            decision="promoted" if verdict.promoted else "rejected",
            reason=verdict.reason,
            metric=policy.metric,
            challenger_value=challenger.value(),
            champion_value=verdict.champion_value,
            champion_version=champ_version,
            deltas={k: metrics[k] - float(v) for k, v in champ_metrics.items() if k in metrics},
            decided_at=_now(),
            interval=(comparison.low, comparison.high) if comparison else None,
            broken_data=verdict.broken_data,
            fairness=report_tags(verdict.groups, verdict.champion_groups),
        )
        for tag, val in _decision_tags(decision, policy).items():
            _retry(lambda tag=tag, val=val: c.set_model_version_tag(name, version, tag, val))
        if verdict.promoted:
            _retry(lambda: _set_champion(c, name, version))
        return decision

    # One lock from the key lookup to the decision: a concurrent try with the same key either
    # finds the decision recorded or waits, so a version is never gated twice.
    with _model_lock(settings, name):
        try:
            return gate()
        except GateError:
            raise
        except Exception as exc:  # noqa: BLE001 - any registry failure stops the decision
            raise GateError(
                f"{name}: the model registry at {settings.tracking_uri} failed during the gate "
                f"({type(exc).__name__}: {str(exc)[:300]}); the champion was not changed. "
                "Retry once the registry answers: the retry finishes this training's version."
            ) from exc


def _champion_evidence(
    settings: Settings, c: MlflowClient, name: str, evidence: Callable[[Any], Evidence]
) -> tuple[str | None, Evidence | None, float | None]:
    """(champion version, its evidence on the new hold-out, the value recorded at its gate).

    Any failure to read, load or score the champion raises :class:`GateError`.
    """
    try:
        version = champion_version(settings, name)
        if version is None:
            return None, None, None
        recorded_tag = c.get_model_version(name, version).tags.get("gate.challenger_value", "")
        model = load_version(settings, name, version)
    except Exception as exc:  # noqa: BLE001 - every way of not reading the champion is an outage
        raise GateError(
            f"{name}: could not read the champion from the registry at {settings.tracking_uri} "
            f"({type(exc).__name__}: {str(exc)[:300]}); nothing was promoted and the champion "
            "keeps serving. Retry once the registry answers."
        ) from exc
    try:
        scored = evidence(model)
    except Exception as exc:  # noqa: BLE001 - a champion that cannot be scored is not a loser
        raise GateError(
            f"{name}: champion v{version} could not be scored on the new hold-out "
            f"({type(exc).__name__}: {str(exc)[:300]}); nothing was promoted. Promote a version "
            "by hand (mercato promote) or fix the error and train again."
        ) from exc
    try:
        recorded = float(recorded_tag) if recorded_tag else None
    except ValueError:
        recorded = None
    return version, scored, recorded
