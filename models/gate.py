"""The promotion rule: a challenger replaces the champion only on evidence that it is better.

The registry (``models.registry``) reads and moves aliases; this module decides. A decision
needs both models scored on the *same* hold-out units (rows, customers, users), each as an
:class:`Evidence`: the metrics, plus the primary metric as a function of per-unit weights. A
paired bootstrap draws the same resample for both sides, so the interval of the difference
reflects how much of the win the hold-out can vouch for. The rules, in order:

1. A champion that scores far below the value recorded when it was promoted signals broken
   data (shuffled labels, a broken join): nothing is promoted, and the reason says so. "Far
   below" is measured in skill above chance: a drop of more than ``max_champion_drop`` of it.
2. The challenger must reach the family's minimum absolute quality (``minimum``).
3. It must beat the family's baseline (``floor``, e.g. popularity) by the margin.
4. With no champion yet, that is enough.
5. Otherwise, when the evidence names customer groups (``Evidence.groups``, or
   ``Evidence.row_groups`` for groups of rows inside the units), the challenger
   must not widen the largest gap of the metric between groups of any dimension by more than
   ``max_gap_widening`` over the champion's gap on the same hold-out (``models.fairness``).
6. And the lower end of the interval of (challenger - champion) must exceed the margin:
   a win inside the noise is refused, with the interval written in the version's tags.

Errors while reading or scoring the champion are not decisions: the caller lets them fail the
run, so the last good champion keeps serving.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import numpy as np

from mercato.settings import Settings
from models.fairness import GroupReport, statistic_by_group, widened


class GateError(RuntimeError):
    """The gate could not decide (the champion could not be read or scored); nothing moved."""


@dataclasses.dataclass(frozen=True)
class Evidence:
    """One model's scores on a hold-out, in a form the gate can resample.

    ``statistic(weights)`` is the primary metric with unit ``i`` counted ``weights[i]`` times
    (all ones give the plain hold-out value); ``n_units`` is the number of units. Two pieces
    of evidence are comparable only when they score the same units in the same order.
    """

    metrics: Mapping[str, float]
    n_units: int
    statistic: Callable[[np.ndarray], float]
    #: ``{dimension: group label per unit}`` (country group, tenure cohort): the gate computes
    #: the metric per group from ``statistic`` with 0/1 weights (``models.fairness``)
    groups: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    #: ``{dimension: group label per row}`` for groups of the rows *inside* the units (a
    #: review's reviewer age band, where the units are products): the metric per group comes
    #: from ``row_statistic`` (``weights per row -> metric``) the same way
    row_groups: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    row_statistic: Callable[[np.ndarray], float] | None = None

    def value(self) -> float:
        """The primary metric on the whole hold-out."""
        return float(self.statistic(np.ones(self.n_units)))

    def group_reports(self, min_size: int = 1) -> dict[str, GroupReport]:
        """The primary metric per group of every dimension, and each dimension's gap."""
        reports = {
            dim: statistic_by_group(self.statistic, labels, min_size, dim)
            for dim, labels in self.groups.items()
            if len(labels) == self.n_units
        }
        if self.row_statistic is not None:
            for dim, labels in self.row_groups.items():
                reports[dim] = statistic_by_group(self.row_statistic, labels, min_size, dim)
        return reports


def mean_evidence(metrics: Mapping[str, float], per_unit: np.ndarray) -> Evidence:
    """Evidence for a metric that is the mean of per-unit values (NDCG per user, silhouette)."""
    values = np.asarray(per_unit, dtype=float)

    def statistic(weights: np.ndarray) -> float:
        total = float(weights.sum())
        return float(weights @ values / total) if total > 0 else float("nan")

    return Evidence(dict(metrics), len(values), statistic)


def auc_evidence(metrics: Mapping[str, float], labels: np.ndarray, scores: np.ndarray) -> Evidence:
    """Evidence for ROC-AUC: the weighted Mann-Whitney statistic, O(n) per resample.

    The scores are sorted once; a resample only changes the weight of each tie group, so every
    bootstrap draw costs a few vectorised passes instead of a sort.
    """
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=float)
    _, group = np.unique(s, return_inverse=True)
    n_groups = int(group.max()) + 1 if len(group) else 0

    def statistic(weights: np.ndarray) -> float:
        pos = np.bincount(group[y], weights=weights[y], minlength=n_groups)
        neg = np.bincount(group[~y], weights=weights[~y], minlength=n_groups)
        total_pos, total_neg = pos.sum(), neg.sum()
        if total_pos == 0 or total_neg == 0:
            return float("nan")
        below = np.cumsum(neg) - neg
        return float((pos * (below + 0.5 * neg)).sum() / (total_pos * total_neg))

    return Evidence(dict(metrics), len(y), statistic)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Paired bootstrap of ``a - b`` (sign-adjusted so that positive means ``a`` is better)."""

    delta: float
    low: float
    high: float
    confidence: float
    samples: int

    def describe(self) -> str:
        return (
            f"{self.delta:+.4f} ({self.confidence:.0%} interval {self.low:+.4f} to "
            f"{self.high:+.4f}, {self.samples} paired bootstrap samples)"
        )


def paired_bootstrap(
    a: Evidence,
    b: Evidence,
    higher_is_better: bool = True,
    samples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Comparison:
    """Interval of the improvement of ``a`` over ``b`` from the same resamples of the units."""
    if a.n_units != b.n_units:
        raise ValueError(
            f"evidence on different hold-outs ({a.n_units} vs {b.n_units} units) cannot be paired"
        )
    sign = 1.0 if higher_is_better else -1.0
    delta = sign * (a.value() - b.value())
    if a.n_units == 0 or samples <= 0:
        return Comparison(delta, delta, delta, confidence, 0)
    rng = np.random.default_rng(seed)
    draws = np.empty(samples)
    for i in range(samples):
        weights = np.bincount(rng.integers(0, a.n_units, a.n_units), minlength=a.n_units)
        weights = weights.astype(float)
        draws[i] = sign * (a.statistic(weights) - b.statistic(weights))
    draws = draws[np.isfinite(draws)]
    if len(draws) == 0:
        return Comparison(delta, float("-inf"), float("inf"), confidence, 0)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(draws, [tail, 1.0 - tail])
    return Comparison(delta, float(low), float(high), confidence, len(draws))


@dataclasses.dataclass(frozen=True)
class Policy:
    """What a family's gate requires; the numbers that are settings come from ``Settings``."""

    metric: str
    higher_is_better: bool = True
    #: the least a model must score to be served at all (None: no absolute minimum)
    minimum: float | None = None
    #: the score of a model with no skill (ROC-AUC 0.5, NDCG 0): the zero of "skill"
    chance: float = 0.0
    margin: float = 0.0
    max_champion_drop: float = 0.5
    #: the most a challenger may widen the largest gap between customer groups
    max_gap_widening: float = 0.05
    #: groups with fewer hold-out units are reported but not judged
    min_group_size: int = 100
    confidence: float = 0.95
    samples: int = 1000
    seed: int = 0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        metric: str,
        higher_is_better: bool = True,
        minimum: float | None = None,
        chance: float = 0.0,
    ) -> Policy:
        """A family's rule with the margin, drop and bootstrap knobs the user configured."""
        return cls(
            metric=metric,
            higher_is_better=higher_is_better,
            minimum=minimum,
            chance=chance,
            margin=settings.promotion_margin,
            max_champion_drop=settings.gate_max_champion_drop,
            max_gap_widening=settings.gate_max_gap_widening,
            min_group_size=settings.fairness_min_group_size,
            confidence=settings.gate_confidence,
            samples=settings.gate_bootstrap_samples,
            seed=settings.seed,
        )


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The rule's answer, with what it measured (written to the version's tags)."""

    promoted: bool
    reason: str
    comparison: Comparison | None = None
    champion_value: float | None = None
    broken_data: bool = False
    #: the metric per customer group, challenger's and champion's (same hold-out units)
    groups: Mapping[str, GroupReport] = dataclasses.field(default_factory=dict)
    champion_groups: Mapping[str, GroupReport] = dataclasses.field(default_factory=dict)


def _better(policy: Policy, a: float, b: float) -> float:
    """How much ``a`` beats ``b`` in the metric's direction."""
    return a - b if policy.higher_is_better else b - a


def decide(
    policy: Policy,
    challenger: Evidence,
    champion: Evidence | None = None,
    champion_recorded: float | None = None,
    champion_version: str | None = None,
    floor: float | None = None,
) -> Verdict:
    """Apply the rules of the module docstring to one challenger.

    The champion, when there is one, is compared whatever the outcome, so every verdict
    records its value and the interval.
    """
    m = policy.metric
    value = challenger.value()
    name = f"champion v{champion_version}" if champion_version else "the champion"
    champ_value = champion.value() if champion is not None else None
    comparison = None
    if champion is not None:
        comparison = paired_bootstrap(
            challenger,
            champion,
            policy.higher_is_better,
            policy.samples,
            policy.confidence,
            policy.seed,
        )

    groups = challenger.group_reports(policy.min_group_size)
    champ_groups = champion.group_reports(policy.min_group_size) if champion is not None else {}

    def verdict(promoted: bool, reason: str, broken: bool = False) -> Verdict:
        return Verdict(promoted, reason, comparison, champ_value, broken, groups, champ_groups)

    if champ_value is not None and champion_recorded is not None and np.isfinite(champion_recorded):
        recorded_skill = _better(policy, champion_recorded, policy.chance)
        skill = _better(policy, champ_value, policy.chance)
        if recorded_skill > 0 and skill < (1.0 - policy.max_champion_drop) * recorded_skill:
            return verdict(
                False,
                f"{name} scores {m}={champ_value:.4f} on this hold-out against "
                f"{champion_recorded:.4f} when it was promoted: it lost more than "
                f"{policy.max_champion_drop:.0%} of its skill, so the new data look broken "
                "(check the latest batches and the marts); nothing was promoted",
                broken=True,
            )
    if not np.isfinite(value):
        return verdict(False, f"{m} of the challenger is undefined on this hold-out")
    if policy.minimum is not None and _better(policy, value, policy.minimum) < 0:
        return verdict(False, f"{m}={value:.4f} is below the family's minimum {policy.minimum}")
    if floor is not None and _better(policy, value, floor) <= policy.margin:
        return verdict(False, f"{m}={value:.4f} does not beat the baseline {floor:.4f}")
    if champion is None or comparison is None or champ_value is None:
        return verdict(True, "no champion yet")
    summary = (
        f"{m} {value:.4f} vs {name} {champ_value:.4f}: {comparison.describe()}, "
        f"margin {policy.margin}"
    )
    wider = widened(groups, champ_groups, policy.max_gap_widening)
    if wider:
        return verdict(False, f"widens the gap of {m} between customer groups: {'; '.join(wider)}")
    if comparison.low > policy.margin:
        return verdict(True, f"better: {summary}")
    if comparison.delta > policy.margin:
        return verdict(False, f"win inside the noise: {summary}")
    return verdict(False, f"not better: {summary}")


__all__ = [
    "Comparison",
    "Evidence",
    "GateError",
    "Policy",
    "Verdict",
    "auc_evidence",
    "decide",
    "mean_evidence",
    "paired_bootstrap",
]
