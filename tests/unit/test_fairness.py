"""Metrics per customer group, the largest gap, and the gate refusing a widening challenger."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from models.fairness import (
    age_band,
    group_metrics,
    largest_gap,
    report_tags,
    reweighing_weights,
    statistic_by_group,
    tenure_cohort,
    widened,
)
from models.gate import Policy, auc_evidence, decide

N_PER_GROUP = 1000


def _holdout(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels and a country group per row: 1000 United Kingdom, 1000 Germany, 20 France."""
    rng = np.random.default_rng(seed)
    groups = np.array(
        ["United Kingdom"] * N_PER_GROUP + ["Germany"] * N_PER_GROUP + ["France"] * 20
    )
    return rng.integers(0, 2, len(groups)), groups


def _scores(y: np.ndarray, groups: np.ndarray, noise: dict[str, float], seed: int) -> np.ndarray:
    """``label + noise``: the smaller a group's noise, the better the model ranks it."""
    rng = np.random.default_rng(seed)
    scale = np.array([noise[g] for g in groups])
    return y + rng.normal(size=len(y)) * scale


def _evidence(y: np.ndarray, score: np.ndarray, groups: np.ndarray | None):
    evidence = auc_evidence({}, y, score)
    if groups is None:
        return evidence
    import dataclasses

    return dataclasses.replace(evidence, groups={"country_group": groups})


POLICY = Policy(metric="roc_auc", minimum=0.55, chance=0.5, samples=300, min_group_size=100)


def test_group_metrics_match_sklearn_per_group_and_skip_tiny_groups() -> None:
    y, groups = _holdout()
    score = _scores(y, groups, {"United Kingdom": 0.3, "Germany": 1.0, "France": 5.0}, seed=1)
    report = group_metrics(roc_auc_score, y, score, groups, min_size=100, dimension="country")
    for g in ("United Kingdom", "Germany"):
        mask = groups == g
        assert report.groups[g] == (pytest.approx(roc_auc_score(y[mask], score[mask])), 1000)
    assert report.groups["France"][1] == 20 and "France" not in report.judged
    uk, de = report.groups["United Kingdom"][0], report.groups["Germany"][0]
    assert report.gap == pytest.approx(uk - de) and uk - de > 0.1
    assert report.extremes() == ("United Kingdom", "Germany")
    # the same numbers from the gate's statistic with 0/1 weights
    from_weights = statistic_by_group(auc_evidence({}, y, score).statistic, groups, 100, "country")
    for g, (value, n) in report.groups.items():
        assert from_weights.groups[g] == (pytest.approx(value, abs=1e-12), n)
    assert largest_gap({"a": (0.7, 5), "b": (0.6, 5), "c": (float("nan"), 5)}) == pytest.approx(0.1)
    assert np.isnan(largest_gap({"a": (0.7, 5)}))


def test_a_group_with_one_class_is_reported_but_not_judged() -> None:
    y = np.array([0, 1] * 150 + [1] * 150)
    groups = np.array(["a"] * 300 + ["b"] * 150)
    report = statistic_by_group(auc_evidence({}, y, y.astype(float)).statistic, groups, 100)
    assert report.judged == ("a",) and np.isnan(report.groups["b"][0])


def test_gate_refuses_a_challenger_that_widens_the_gap_between_groups() -> None:
    y, groups = _holdout()
    fair = {"United Kingdom": 1.0, "Germany": 1.0, "France": 1.0}
    champion = _evidence(y, _scores(y, groups, fair, seed=2), groups)
    # much better for the UK, as good as the champion for Germany: better overall
    uneven = _scores(y, groups, {"United Kingdom": 0.2, "Germany": 1.0, "France": 1.0}, seed=3)

    without_groups = decide(POLICY, _evidence(y, uneven, None), _evidence(y, uneven, None), None)
    assert without_groups.groups == {}
    blind = decide(POLICY, _evidence(y, uneven, None), champion, None, "1")
    assert blind.promoted, blind.reason

    refused = decide(POLICY, _evidence(y, uneven, groups), champion, None, "1")
    assert not refused.promoted
    assert "country_group gap" in refused.reason and "worst Germany" in refused.reason, (
        refused.reason
    )
    gap, champ_gap = (
        refused.groups["country_group"].gap,
        refused.champion_groups["country_group"].gap,
    )
    assert gap - champ_gap > POLICY.max_gap_widening
    assert f"{gap:.4f}" in refused.reason and f"{champ_gap:.4f}" in refused.reason

    import dataclasses

    tolerant = dataclasses.replace(POLICY, max_gap_widening=0.5)
    assert decide(tolerant, _evidence(y, uneven, groups), champion, None, "1").promoted

    even = _scores(y, groups, {"United Kingdom": 0.5, "Germany": 0.5, "France": 0.5}, seed=4)
    assert decide(POLICY, _evidence(y, even, groups), champion, None, "1").promoted


def test_a_tiny_group_cannot_block_a_promotion() -> None:
    y, groups = _holdout()
    champion = _evidence(y, _scores(y, groups, dict.fromkeys(set(groups), 1.0), seed=5), groups)
    # far worse for the 20 French rows only: below the minimum group size, so not judged
    score = _scores(y, groups, {"United Kingdom": 0.4, "Germany": 0.4, "France": 50.0}, seed=6)
    verdict = decide(POLICY, _evidence(y, score, groups), champion, None, "1")
    assert verdict.promoted, verdict.reason
    assert "France" not in verdict.groups["country_group"].judged
    tags = report_tags(verdict.groups, verdict.champion_groups)
    assert set(tags) == {
        "fairness.country_group.groups",
        "fairness.country_group.judged",
        "fairness.country_group.gap",
        "fairness.country_group.champion_gap",
    }
    assert tags["fairness.country_group.judged"] == "Germany,United Kingdom"


def test_widened_names_only_the_dimensions_that_widened() -> None:
    a = statistic_by_group(lambda w: float(w[0]), np.array(["x", "y"]), 1, "country_group")
    report = {"country_group": a}
    assert widened(report, report, 0.0) == []


def test_group_labels() -> None:
    first = pd.to_datetime(["2011-01-01", "2011-01-01", "2010-01-01", None, "2011-06-01"])
    cohorts = tenure_cohort(first, pd.Timestamp("2011-05-15"))
    assert cohorts.tolist() == ["3-6m", "3-6m", "12m+", "no_order", "no_order"]
    assert tenure_cohort(first[:1], pd.Timestamp("2011-02-01")).tolist() == ["0-3m"]
    # Feast's snapshot times are tz-aware, the marts' first orders naive UTC
    aware = pd.to_datetime(["2011-05-15", "2011-01-02"]).tz_localize("UTC")
    assert tenure_cohort(first[:2], aware).tolist() == ["3-6m", "0-3m"]
    assert age_band([18, 25, 34, 64, 65, 99, None, -3]).tolist() == [
        "<25",
        "25-34",
        "25-34",
        "55-64",
        "65+",
        "65+",
        "unknown",
        "unknown",
    ]


def test_reweighing_makes_the_label_independent_of_the_group() -> None:
    rng = np.random.default_rng(7)
    groups = np.array(["uk"] * 800 + ["other"] * 200)
    y = np.r_[rng.random(800) < 0.4, rng.random(200) < 0.1].astype(int)
    w = reweighing_weights(groups, y)
    assert w.mean() == pytest.approx(1.0)
    rates = {g: np.average(y[groups == g], weights=w[groups == g]) for g in ("uk", "other")}
    assert rates["uk"] == pytest.approx(rates["other"]) == pytest.approx(y.mean())


def test_sentiment_gate_refuses_a_challenger_that_widens_the_age_band_gap() -> None:
    """The sentiment family's units are products (a cluster bootstrap); its age bands belong to
    the reviews inside them (``Evidence.row_groups``), and the gate judges them all the same."""
    from models.sentiment import product_evidence, reviewer_groups

    rng = np.random.default_rng(7)
    n = 3000
    products = rng.integers(0, 150, n).astype(str)
    reviews = pd.DataFrame({"age_band": rng.choice(["31", "52", "70", None], n)})
    bands = reviewer_groups(reviews)["age_band"]
    assert set(bands) == {"25-34", "45-54", "65+", "unknown"}
    y = rng.integers(0, 2, n)

    def scores(noise: dict[str, float], seed: int) -> np.ndarray:
        scale = np.array([noise.get(b, 1.0) for b in bands])
        return y + np.random.default_rng(seed).normal(size=n) * scale

    def evidence(score: np.ndarray, groups: bool = True):
        return product_evidence({}, y, score, products, reviewer_groups(reviews) if groups else {})

    champion = evidence(scores({}, seed=8))
    assert champion.n_units == 150 and set(champion.group_reports(100)) == {"age_band"}
    uneven = scores({"25-34": 0.2, "45-54": 0.2}, seed=9)  # better overall, not for 65+
    blind = decide(POLICY, evidence(uneven, groups=False), champion, None, "1")
    assert blind.promoted, blind.reason
    refused = decide(POLICY, evidence(uneven), champion, None, "1")
    assert not refused.promoted
    assert "age_band gap" in refused.reason and "worst 65+" in refused.reason, refused.reason
    even = scores(dict.fromkeys(["25-34", "45-54", "65+", "unknown"], 0.3), seed=10)
    assert decide(POLICY, evidence(even), champion, None, "1").promoted
    assert reviewer_groups(reviews.assign(age_band=None)) == {}
