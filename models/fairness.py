"""Metrics per customer group, the largest gap between groups, and reweighing.

A family that scores customers names, for each hold-out unit of its evidence, the unit's group
along one or more *dimensions* (:data:`COUNTRY`, :data:`TENURE`, :data:`AGE`), through
``ModelFamily.groups``. The gate (``models.gate.decide``) then computes the primary metric per
group for the champion and the challenger on the same hold-out rows, records the groups and the
largest gap between them, and refuses a challenger that widens a dimension's gap by more than
``MERCATO_GATE_MAX_GAP_WIDENING``. Groups with fewer than ``MERCATO_FAIRNESS_MIN_GROUP_SIZE``
units are reported but not judged: a metric on a handful of rows is mostly noise.

The per-group metric is the evidence's own statistic with a 0/1 weight per unit: the same
function the paired bootstrap resamples, so ROC-AUC, NDCG and R^2 per group need no extra code.

The groups:

- **country group**: the customer's country (the one most of their lines ship to, mart
  ``dim_customers``) when at least :data:`MIN_COUNTRY_CUSTOMERS` customers live there, else
  ``other``; on the UCI Online Retail file that is United Kingdom, Germany, France and other;
- **tenure cohort**: whole months from the customer's first order to the moment the row is
  scored, binned by :data:`TENURE_EDGES_MONTHS`;
- **age band** (reviews only): the reviewer's age band (``mercato.bands``: ``<25``, ``25-34``,
  ..., ``65+``), where the source carries an age. The sentiment family's units are products
  (a cluster bootstrap), so its age bands are rows inside the units: ``Evidence.row_groups``.

Reweighing (Kamiran and Calders, 2012) is the mitigation offered for propensity: each training
row of group ``g`` and label ``y`` is weighted ``P(g) P(y) / P(g, y)``, so that in the weighted
training data the label is independent of the group.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mercato.bands import AGE_EDGES, bands_of

if TYPE_CHECKING:
    from mercato.settings import Settings

COUNTRY = "country_group"
TENURE = "tenure_cohort"
AGE = "age_band"
OTHER = "other"
#: A country with fewer customers than this in ``dim_customers`` is pooled into ``other``.
MIN_COUNTRY_CUSTOMERS = 50
#: Tenure cohorts: months since the first order, ``[0, 3)``, ``[3, 6)``, ``[6, 12)``, ``12+``.
TENURE_EDGES_MONTHS = (3, 6, 12)
DAYS_PER_MONTH = 30.4375


# -- group labels ----------------------------------------------------------------------------
def tenure_cohort(first_order_at: Any, as_of: Any) -> np.ndarray:
    """Cohort label per row: months from ``first_order_at`` to ``as_of``, binned.

    A row without an order before ``as_of`` (none at all, or only cancellations) is ``no_order``.
    """
    first = _naive_utc(first_order_at)
    when = _naive_utc(as_of)
    if len(when) == 1 and len(first) != 1:
        when = pd.Series([when.iloc[0]] * len(first))
    months = ((when - first).dt.total_seconds() / 86400.0 / DAYS_PER_MONTH).to_numpy()
    edges = (0, *TENURE_EDGES_MONTHS)
    labels = [f"{lo}-{hi}m" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    labels.append(f"{edges[-1]}m+")
    out = np.full(len(months), "no_order", dtype=object)
    known = np.isfinite(months) & (months >= 0)
    out[known] = np.array(labels, dtype=object)[
        np.searchsorted(TENURE_EDGES_MONTHS, months[known], side="right")
    ]
    return out


def _naive_utc(values: Any) -> pd.Series:
    """Timestamps as naive UTC (Feast's are tz-aware, the marts' naive UTC)."""
    series = pd.to_datetime(pd.Series(values)).reset_index(drop=True)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return series


def age_band(age: Any) -> np.ndarray:
    """Band label per age (``mercato.bands``; ``unknown`` where missing or implausible)."""
    return np.asarray(bands_of(pd.Series(age, dtype=object).tolist()), dtype=object)


def country_groups(countries: pd.Series, min_customers: int = MIN_COUNTRY_CUSTOMERS) -> pd.Series:
    """Each customer's country, or :data:`OTHER` for countries with few customers."""
    counts = countries.value_counts()
    kept = set(counts[counts >= min_customers].index)
    return countries.where(countries.isin(kept), OTHER).fillna(OTHER)


def customer_groups(
    settings: Settings, customer_ids: Sequence[Any], as_of: Any
) -> dict[str, np.ndarray]:
    """Country group and tenure cohort of each customer id at ``as_of`` (one time or one per
    row), from mart ``dim_customers``; customers missing there are ``other`` and ``no_order``.
    No groups at all (``{}``) while the mart is not built."""
    from warehouse import reader

    customers = reader.query_if_built(
        settings, "select customer_id, country, first_order_at from main.dim_customers"
    )
    if customers is None:
        return {}
    customers["customer_id"] = customers["customer_id"].astype(str)
    customers["country_group"] = country_groups(customers["country"])
    table = customers.set_index("customer_id")
    ids = pd.Index(pd.Series(customer_ids).astype(str))
    rows = table.reindex(ids)
    return {
        COUNTRY: rows["country_group"].fillna(OTHER).to_numpy(dtype=object),
        TENURE: tenure_cohort(rows["first_order_at"].to_numpy(), as_of),
    }


# -- metrics per group -----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class GroupReport:
    """A metric per group along one dimension, and the largest gap between judged groups."""

    dimension: str
    #: ``{group: (metric, units)}`` for every group, judged or not
    groups: Mapping[str, tuple[float, int]]
    #: groups with at least the minimum size and a defined metric
    judged: tuple[str, ...]

    @property
    def gap(self) -> float:
        """Best minus worst metric among judged groups (NaN with fewer than two)."""
        return largest_gap(self.groups, self.judged)

    def extremes(self) -> tuple[str, str] | None:
        """(best group, worst group) among judged ones, in the metric's raw order."""
        if len(self.judged) < 2:
            return None
        values = {g: self.groups[g][0] for g in self.judged}
        return max(values, key=values.get), min(values, key=values.get)

    def describe(self) -> str:
        cells = ", ".join(
            f"{g} {v:.4f} (n={n}{'' if g in self.judged else ', not judged'})"
            for g, (v, n) in sorted(self.groups.items())
        )
        return f"{self.dimension}: {cells}; largest gap {self.gap:.4f}"


def largest_gap(
    groups: Mapping[str, tuple[float, int]], judged: Sequence[str] | None = None
) -> float:
    """Largest difference of the metric between two of ``judged`` groups (default: all)."""
    names = list(groups) if judged is None else list(judged)
    values = [groups[g][0] for g in names if np.isfinite(groups[g][0])]
    return float(max(values) - min(values)) if len(values) >= 2 else float("nan")


def group_metrics(
    metric_fn: Callable[[np.ndarray, np.ndarray], float],
    y: Any,
    score: Any,
    groups: Any,
    min_size: int = 1,
    dimension: str = "group",
) -> GroupReport:
    """``metric_fn(y, score)`` on the rows of each group; groups below ``min_size`` rows (or
    where the metric is undefined, e.g. ROC-AUC of a group with one class) are not judged."""
    y, score, labels = np.asarray(y), np.asarray(score), np.asarray(groups, dtype=object)
    if not len(y) == len(score) == len(labels):
        raise ValueError(
            f"y, score and groups differ in length ({len(y)}, {len(score)}, {len(labels)})"
        )
    out: dict[str, tuple[float, int]] = {}
    for g in sorted(set(labels.tolist()), key=str):
        mask = labels == g
        try:
            value = float(metric_fn(y[mask], score[mask]))
        except ValueError:
            value = float("nan")
        out[str(g)] = (value, int(mask.sum()))
    return _report(dimension, out, min_size)


def statistic_by_group(
    statistic: Callable[[np.ndarray], float],
    groups: Any,
    min_size: int = 1,
    dimension: str = "group",
) -> GroupReport:
    """A gate statistic (``weights -> metric``) per group: weight 1 on the group's units, 0
    elsewhere, so every metric the gate can resample can be computed per group."""
    labels = np.asarray(groups, dtype=object)
    out: dict[str, tuple[float, int]] = {}
    for g in sorted(set(labels.tolist()), key=str):
        mask = (labels == g).astype(float)
        with np.errstate(all="ignore"):
            value = float(statistic(mask))
        out[str(g)] = (value, int(mask.sum()))
    return _report(dimension, out, min_size)


def _report(dimension: str, groups: dict[str, tuple[float, int]], min_size: int) -> GroupReport:
    judged = tuple(g for g, (v, n) in groups.items() if n >= min_size and np.isfinite(v))
    return GroupReport(dimension, groups, judged)


def widened(
    challenger: Mapping[str, GroupReport],
    champion: Mapping[str, GroupReport],
    max_widening: float,
) -> list[str]:
    """One sentence per dimension where the challenger's largest gap exceeds the champion's
    (on the same hold-out) by more than ``max_widening``; empty when none does."""
    out = []
    for dim, report in challenger.items():
        other = champion.get(dim)
        if other is None:
            continue
        new, old = report.gap, other.gap
        if not (np.isfinite(new) and np.isfinite(old)) or new - old <= max_widening:
            continue
        best, worst = report.extremes() or ("?", "?")
        out.append(
            f"{dim} gap {new:.4f} (best {best}, worst {worst}) vs the champion's {old:.4f} on "
            f"the same hold-out: widened by {new - old:.4f} > {max_widening}"
        )
    return out


def report_metrics(reports: Mapping[str, GroupReport], metric: str) -> dict[str, float]:
    """Flat MLflow-style metrics: ``fairness.<dim>.<group>.<metric>``, ``.n`` and ``.gap``."""
    out: dict[str, float] = {}
    for dim, report in reports.items():
        for g, (value, n) in report.groups.items():
            key = _safe(g)
            if np.isfinite(value):
                out[f"fairness.{dim}.{key}.{metric}"] = value
            out[f"fairness.{dim}.{key}.n"] = float(n)
        if np.isfinite(report.gap):
            out[f"fairness.{dim}.gap"] = report.gap
    return out


def report_tags(
    challenger: Mapping[str, GroupReport], champion: Mapping[str, GroupReport]
) -> dict[str, str]:
    """Version tags: per dimension the challenger's groups as JSON ``{group: [metric, n]}``,
    its largest gap and the champion's gap on the same hold-out (empty without a champion)."""
    import json

    out: dict[str, str] = {}
    for dim, report in challenger.items():
        cells = {
            g: [round(v, 6) if np.isfinite(v) else None, n] for g, (v, n) in report.groups.items()
        }
        out[f"fairness.{dim}.groups"] = json.dumps(cells, sort_keys=True)
        out[f"fairness.{dim}.judged"] = ",".join(report.judged)
        out[f"fairness.{dim}.gap"] = _number(report.gap)
        other = champion.get(dim)
        out[f"fairness.{dim}.champion_gap"] = "" if other is None else _number(other.gap)
    return out


def _number(value: float) -> str:
    return f"{value:.6f}" if np.isfinite(value) else ""


def _safe(name: str) -> str:
    """An MLflow-safe key part (letters, digits, ``_-.``; spaces and ``+<`` spelled out)."""
    text = str(name).replace("+", "_plus").replace("<", "under_")
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in text)


# -- mitigation ------------------------------------------------------------------------------
def reweighing_weights(groups: Any, y: Any) -> np.ndarray:
    """Kamiran-Calders weights ``P(g) P(y) / P(g, y)`` (mean 1), one per row."""
    g = pd.Series(np.asarray(groups, dtype=object)).astype(str)
    label = pd.Series(np.asarray(y)).astype(int)
    n = len(label)
    if n == 0:
        return np.zeros(0)
    p_g = g.map(g.value_counts() / n)
    p_y = label.map(label.value_counts() / n)
    joint = pd.Series(list(zip(g, label, strict=True)))
    p_gy = joint.map(joint.value_counts() / n)
    return (p_g.to_numpy() * p_y.to_numpy() / p_gy.to_numpy()).astype(float)


__all__ = [
    "AGE",
    "AGE_EDGES",
    "COUNTRY",
    "TENURE",
    "GroupReport",
    "age_band",
    "country_groups",
    "customer_groups",
    "group_metrics",
    "largest_gap",
    "report_metrics",
    "report_tags",
    "reweighing_weights",
    "statistic_by_group",
    "tenure_cohort",
    "widened",
]
