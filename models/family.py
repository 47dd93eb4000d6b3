"""The contract every model family implements, and the one list of families.

A family is a small class after scikit-learn's estimator contract: what it *is* lives in class
attributes (name, registered model, the data it reads, the primary metric and its direction,
the minimum it must reach, the HTTP endpoints it adds), what it *does* in five methods:

- ``load_data(settings)``: the training data, from the marts or a Feast feature service;
- ``split(data, settings)``: the training part and the hold-out it is judged on;
- ``fit(split, settings)``: the model to judge, the model to serve, and what to log;
- ``evaluate(model, split, fitted)``: any model's :class:`models.gate.Evidence` on the
  hold-out (the challenger's and, through ``evaluate_champion``, the champion's);
- ``log(fitted, split)``: the family's own parameters, metrics and figures, in the active run.

``models.training.train`` does the rest once for every family: the MLflow run, provenance, the
logged pyfunc, registration and the promotion gate. The pipeline, the CLI, the training DAG,
the registry's champions, ``model_info`` and the service all read :func:`families`; adding a
family is a module defining ``FAMILY`` plus one line in ``mercato.names.BUILTIN_FAMILIES`` (or
``MERCATO_EXTRA_FAMILIES`` for a plug-in), see docs/architecture.md.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mercato.names import family_modules, family_names
from mercato.settings import Settings
from models.gate import Evidence, Policy


@dataclass
class Split:
    """The rows a family trains on, the hold-out it is judged on, and all of them."""

    train: Any
    holdout: Any
    data: Any
    #: facts about the split worth logging (cut-off, sizes)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Fitted:
    """What ``fit`` returns: the judged model, the served one, and everything to record."""

    #: fitted on ``split.train`` only: what the gate judges on the hold-out
    model: Any
    #: an example of the served model's input (the pyfunc's signature is inferred from it)
    input_example: Any
    #: what is registered and served (``None``: ``model`` itself); e.g. a refit on all the data
    served: Any = None
    #: MLflow params of the run
    params: dict[str, Any] = field(default_factory=dict)
    #: metrics logged besides the evidence's (training-set scores, stability)
    metrics: dict[str, float] = field(default_factory=dict)
    #: the baseline the challenger must beat even without a champion (e.g. popularity's NDCG)
    floor: float | None = None
    #: what identifies this trained model in the registry (part of the training key)
    tags: dict[str, Any] = field(default_factory=dict)
    #: family-specific results for callers and run summaries (comparisons, profiles)
    details: dict[str, Any] = field(default_factory=dict)
    #: params of the pyfunc's ``predict`` (e.g. ``k``), part of its signature
    pyfunc_params: dict[str, Any] | None = None
    run_name: str = ""
    #: objects ``log`` and ``evaluate`` need from the fit (other models, spaces); not returned
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def to_serve(self) -> Any:
        return self.model if self.served is None else self.served


class ModelFamily(ABC):
    """One kind of model Mercato trains, gates and serves. Subclasses set every attribute."""

    #: short name: ``mercato train NAME``, the DAG task ``train_NAME``, run summaries
    name: ClassVar[str]
    #: the MLflow registered model, its experiment, and the service's model name
    registered_model: ClassVar[str]
    experiment: ClassVar[str]
    #: what ``load_data`` reads, in words (marts, feature service), for docs and ``--help``
    reads: ClassVar[str]
    #: the Feast feature service it trains on, if any (logged as provenance)
    feature_service: ClassVar[str | None] = None
    #: the metric the gate decides on, its direction, the least worth serving, and chance
    metric: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    minimum: ClassVar[float | None] = None
    chance: ClassVar[float] = 0.0
    #: the serving module whose ``ENDPOINTS`` this family adds to the HTTP API (None: none)
    api: ClassVar[str | None] = None
    #: one line for ``--help`` and the API page
    summary: ClassVar[str] = ""

    def has_data(self, settings: Settings) -> bool:
        """Whether there is anything to train on; a family whose source has sent nothing yet
        (a shop without reviews) is skipped by ``models.training.train`` instead of failing."""
        return True

    @abstractmethod
    def load_data(self, settings: Settings) -> Any:
        """The family's training data, read from the warehouse or the feature store."""

    @abstractmethod
    def split(self, data: Any, settings: Settings) -> Split:
        """Split ``data`` into what the model learns from and the hold-out it is judged on."""

    @abstractmethod
    def fit(self, split: Split, settings: Settings) -> Fitted:
        """Fit on ``split.train`` (and, if the family serves a refit, build that too)."""

    @abstractmethod
    def evaluate(self, model: Any, split: Split, fitted: Fitted) -> Evidence:
        """Any model's evidence on ``split.holdout`` (``fitted`` is this run's challenger)."""

    def evaluate_champion(self, champion: Any, split: Split, fitted: Fitted) -> Evidence:
        """The champion's evidence on the same hold-out units; by default ``evaluate``."""
        return self.evaluate(champion, split, fitted)

    def groups(self, split: Split, settings: Settings) -> dict[str, Any]:
        """``{dimension: group label per hold-out unit}``, in the order of ``evaluate``'s units,
        for the gate's metrics per customer group (``models.fairness``); default: no groups."""
        return {}

    def log(self, fitted: Fitted, split: Split) -> None:  # noqa: B027 - optional hook
        """Log the family's own figures and tables in the active MLflow run."""

    def reference_profile(
        self, fitted: Fitted, split: Split, settings: Settings
    ) -> dict[str, Any] | None:
        """The inputs and outputs the drift monitor compares serving data with (see
        ``models.profile``), logged as ``reference_profile.json``; ``None``: not monitored."""
        return None

    def policy(self, settings: Settings) -> Policy:
        """The gate's rule for this family, with the user's margin and bootstrap settings."""
        return Policy.from_settings(
            settings,
            self.metric,
            higher_is_better=self.higher_is_better,
            minimum=self.minimum,
            chance=self.chance,
        )


def get_family(name: str, settings: Settings | None = None) -> ModelFamily:
    """The declared ``FAMILY`` of one family; ``ValueError`` naming the known ones."""
    modules = family_modules(settings)
    if name not in modules:
        raise ValueError(f"unknown model family {name!r}; choose one of {', '.join(modules)}")
    family = getattr(importlib.import_module(modules[name]), "FAMILY", None)
    if not isinstance(family, ModelFamily):
        raise TypeError(f"{modules[name]} must define FAMILY, a models.family.ModelFamily")
    if family.name != name:
        raise ValueError(f"{modules[name]}.FAMILY is named {family.name!r}, listed as {name!r}")
    return family


def families(settings: Settings | None = None) -> list[ModelFamily]:
    """Every family, in training order."""
    return [get_family(name, settings) for name in family_names(settings)]


__all__ = [
    "Fitted",
    "ModelFamily",
    "Split",
    "families",
    "family_modules",
    "family_names",
    "get_family",
]
