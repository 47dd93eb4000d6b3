"""Train one model family: fit, evaluate, log, register and gate, the same way for every family.

The family (``models.family.ModelFamily``) knows its data, its split, its fit and how to score
a model; this module owns the sequence around them, so a new family writes none of it:

1. ``load_data`` (unless the caller passes the data) and ``split``;
2. ``fit`` on the training part, ``evaluate`` on the hold-out (the challenger's evidence);
3. one MLflow run: provenance (data hash, warehouse batches, feature service), the family's
   params and metrics, the evidence's metrics, the family's own figures, the served pyfunc;
4. ``models.registry.register_and_gate``: a new version with alias ``challenger``, scored pair
   by pair against the champion on the same hold-out, promoted only on evidence.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from mercato.settings import Settings, apply_runtime_env
from models.fairness import report_metrics
from models.family import ModelFamily, get_family


@dataclass(frozen=True)
class TrainingResult:
    """What one training did, for the CLI, the DAG's XCom and the run summary."""

    family: str
    name: str
    version: str | None
    metrics: dict[str, float]
    promoted: bool
    decision: str
    run_id: str = ""
    #: the family's own results (model comparison, chosen parameters, profiles)
    details: dict[str, Any] = field(default_factory=dict)


def train(
    family: ModelFamily | str,
    settings: Settings,
    data: Any = None,
    register: bool = True,
) -> TrainingResult:
    """Train, evaluate, log and (unless ``register`` is false) register and gate ``family``.

    Raises ``models.gate.GateError`` when the registry fails during the gate: the champion
    does not move, and a retry finishes the same version.
    """
    import mlflow

    from models import registry, tracking
    from models.profile import PROFILE_ARTIFACT

    if isinstance(family, str):
        family = get_family(family, settings)
    apply_runtime_env(settings)
    settings.ensure_dirs()
    if data is None:
        if not family.has_data(settings):
            return TrainingResult(
                family.name,
                family.registered_model,
                None,
                {},
                False,
                f"skipped: no data for {family.name} yet ({family.reads})",
            )
        data = family.load_data(settings)
    split = family.split(data, settings)
    fitted = family.fit(split, settings)
    groups = family.groups(split, settings)
    evidence = dataclasses.replace(family.evaluate(fitted.model, split, fitted), groups=groups)
    metrics = {k: float(v) for k, v in {**evidence.metrics, **fitted.metrics}.items()}
    # metric per customer group: in the run only (the gate tags the version with them too)
    group_metrics = report_metrics(
        evidence.group_reports(settings.fairness_min_group_size), family.metric
    )

    run_name = fitted.run_name or family.name
    with tracking.start_run(settings, family.experiment, run_name) as run:
        tracking.log_provenance(settings, split.data, family.feature_service or "")
        mlflow.log_params({**fitted.params, **split.info})
        mlflow.log_metrics({**metrics, **group_metrics})
        family.log(fitted, split)
        profile = family.reference_profile(fitted, split, settings)
        if profile is not None:
            mlflow.log_dict(profile, PROFILE_ARTIFACT)
        info = tracking.log_pyfunc(fitted.to_serve, fitted.input_example, fitted.pyfunc_params)
        run_id = run.info.run_id

    if not register:
        return TrainingResult(
            family.name,
            family.registered_model,
            None,
            metrics,
            False,
            "not registered",
            run_id,
            fitted.details,
        )
    decision = registry.register_and_gate(
        settings,
        family.registered_model,
        info.model_uri,
        run_id,
        challenger=dataclasses.replace(evidence, metrics=metrics),
        evidence=lambda champion: dataclasses.replace(
            family.evaluate_champion(champion, split, fitted), groups=groups
        ),
        policy=family.policy(settings),
        floor=fitted.floor,
        tags={**fitted.tags, "data_version": tracking.data_version(split.data)},
    )
    return TrainingResult(
        family.name,
        family.registered_model,
        decision.version,
        metrics,
        decision.promoted,
        decision.reason,
        run_id,
        fitted.details,
    )
