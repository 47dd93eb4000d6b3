"""Drift statistics, pure functions on arrays and frames: PSI plus KS (numeric) or chi-square
(categorical) per feature, and the PSI of the score distribution.

A feature *drifts* when its PSI exceeds the limit **and** its test rejects "same distribution"
at the significance level: PSI says the shift is large enough to matter, the test that it is
not sampling noise (on a few hundred customers PSI alone is noisy; on many thousands every
test rejects). Both are computed against a reference profile (``models.profile``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

#: Quantile bins of the reference for PSI (deciles, the usual choice).
PSI_BINS = 10
#: Floor of a bin's share, so an empty bin gives a large but finite PSI.
EPSILON = 1e-4


@dataclass(frozen=True)
class Limits:
    """When a comparison is an alert (from ``MERCATO_MONITOR_*``)."""

    psi_max: float = 0.25
    p_value: float = 0.01
    prediction_psi_max: float = 0.25


@dataclass(frozen=True)
class FeatureDrift:
    """One column compared with its reference."""

    feature: str
    kind: str
    psi: float
    test: str
    statistic: float
    p_value: float
    n_reference: int
    n_current: int
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    shares = counts / total if total else np.zeros_like(counts, dtype=float)
    return np.clip(shares, EPSILON, None)


def psi_from_shares(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index: sum over bins of (a - e) * ln(a / e)."""
    e, a = _shares(np.asarray(expected, float)), _shares(np.asarray(actual, float))
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_psi(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS) -> float:
    """PSI over the reference's quantile bins (ties merged, so a constant column is one bin)."""
    reference, current = np.asarray(reference, float), np.asarray(current, float)
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_counts = np.bincount(
        np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1
    )
    cur_counts = np.bincount(
        np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1
    )
    return psi_from_shares(ref_counts, cur_counts)


def compare_numeric(
    name: str, reference: np.ndarray, current: np.ndarray, limits: Limits
) -> FeatureDrift:
    """PSI and the two-sample Kolmogorov-Smirnov test of one numeric column."""
    from scipy.stats import ks_2samp

    reference, current = np.asarray(reference, float), np.asarray(current, float)
    current = current[~np.isnan(current)]
    if len(reference) == 0 or len(current) == 0:
        raise ValueError(
            f"feature {name!r}: nothing to compare (reference {len(reference)} "
            f"values, current {len(current)})"
        )
    psi = numeric_psi(reference, current)
    test = ks_2samp(reference, current)
    p = float(test.pvalue)
    return FeatureDrift(
        name,
        "numeric",
        psi,
        "ks",
        float(test.statistic),
        p,
        len(reference),
        len(current),
        psi > limits.psi_max and p < limits.p_value,
    )


def compare_categorical(
    name: str,
    reference_shares: dict[str, float],
    n_reference: int,
    current: pd.Series,
    limits: Limits,
) -> FeatureDrift:
    """PSI and the chi-square test of the current counts against the reference shares."""
    from scipy.stats import chisquare

    counts = current.dropna().astype(str).value_counts()
    if counts.sum() == 0:
        raise ValueError(f"feature {name!r}: no current values to compare")
    categories = sorted(set(reference_shares) | set(counts.index))
    expected = np.array([reference_shares.get(c, 0.0) for c in categories])
    observed = np.array([float(counts.get(c, 0)) for c in categories])
    psi = psi_from_shares(expected, observed)
    # a category unseen in training gets the floor share, so the test can still run
    exp_counts = _shares(expected) / _shares(expected).sum() * observed.sum()
    test = chisquare(observed, exp_counts)
    p = float(test.pvalue) if len(categories) > 1 else 1.0
    stat = float(test.statistic) if len(categories) > 1 else 0.0
    return FeatureDrift(
        name,
        "categorical",
        psi,
        "chi2",
        stat,
        p,
        n_reference,
        int(observed.sum()),
        psi > limits.psi_max and p < limits.p_value,
    )


def compare_column(
    name: str, reference: dict[str, Any], current: pd.Series, limits: Limits
) -> FeatureDrift:
    """One column of a reference profile (``models.profile.column_profile``) against now."""
    if reference["kind"] == "categorical":
        return compare_categorical(name, reference["shares"], int(reference["n"]), current, limits)
    return compare_numeric(
        name, np.asarray(reference["sample"]), current.astype(float).to_numpy(), limits
    )


def compare_frame(
    profile: dict[str, Any], frame: pd.DataFrame, limits: Limits
) -> list[FeatureDrift]:
    """Every input of ``profile`` against the same column of ``frame``; a missing column is
    an error naming it (the snapshot no longer carries what the model reads)."""
    missing = [f for f in profile["features"] if f not in frame.columns]
    if missing:
        raise ValueError(f"the current snapshot lacks the model inputs {missing}")
    return [compare_column(f, ref, frame[f], limits) for f, ref in profile["features"].items()]


def compare_scores(profile: dict[str, Any], scores: np.ndarray, limits: Limits) -> FeatureDrift:
    """Prediction drift: the score distribution now against the one at training."""
    drift = compare_column("prediction", profile["score"], pd.Series(scores), limits)
    return FeatureDrift(
        **{
            **drift.to_dict(),
            "drifted": drift.psi > limits.prediction_psi_max and drift.p_value < limits.p_value,
        }
    )
