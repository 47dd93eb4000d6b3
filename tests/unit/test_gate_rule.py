"""The promotion rule on its own: paired bootstrap, minimums, baselines and broken data."""

from __future__ import annotations

import numpy as np
import pytest
from gate_models import CHAMPION, STRONG, WEAK, holdout, scorer

from models.gate import Policy, auc_evidence, decide, mean_evidence, paired_bootstrap
from models.propensity import propensity_evidence


# -- the rule itself --------------------------------------------------------------------------
def test_paired_bootstrap_of_a_model_with_itself_is_exactly_zero() -> None:
    data = holdout()
    a = propensity_evidence(scorer(*CHAMPION), data)
    same = paired_bootstrap(a, a)
    assert (same.delta, same.low, same.high) == (0.0, 0.0, 0.0)


def test_auc_evidence_matches_sklearn_on_a_resample() -> None:
    from sklearn.metrics import roc_auc_score

    data = holdout()
    score = data["f0"].round(1).to_numpy()  # ties, as real scores have
    evidence = auc_evidence({}, data["label"].to_numpy(), score)
    assert evidence.value() == pytest.approx(roc_auc_score(data["label"], score), abs=1e-12)
    idx = np.random.default_rng(3).integers(0, len(data), len(data))
    weights = np.bincount(idx, minlength=len(data)).astype(float)
    expected = roc_auc_score(data["label"].to_numpy()[idx], score[idx])
    assert evidence.statistic(weights) == pytest.approx(expected, abs=1e-12)


def test_rule_refuses_noise_promotes_evidence_and_flags_a_collapsed_champion() -> None:
    data = holdout()
    policy = Policy(metric="roc_auc", minimum=0.55, chance=0.5)
    champion = propensity_evidence(scorer(*CHAMPION), data)
    weak = decide(policy, propensity_evidence(scorer(*WEAK), data), champion, 0.75, "1")
    assert not weak.promoted and weak.comparison is not None
    assert weak.comparison.delta > 0 > weak.comparison.low, weak.reason
    assert "inside the noise" in weak.reason
    strong = decide(policy, propensity_evidence(scorer(*STRONG), data), champion, 0.75, "1")
    assert strong.promoted and strong.comparison.low > 0, strong.reason

    shuffled = data.assign(label=np.random.default_rng(0).permutation(data["label"]))
    broken = decide(
        policy,
        propensity_evidence(scorer(*STRONG), shuffled),
        propensity_evidence(scorer(*CHAMPION), shuffled),
        champion.value(),
        "1",
    )
    assert not broken.promoted and broken.broken_data
    assert "data look broken" in broken.reason


def test_rule_applies_the_minimum_and_the_baseline_even_without_a_champion() -> None:
    policy = Policy(metric="ndcg_at_10", minimum=0.05)
    low = mean_evidence({}, np.full(100, 0.04))
    assert "below the family's minimum" in decide(policy, low).reason
    good = mean_evidence({}, np.full(100, 0.2))
    assert not decide(policy, good, floor=0.25).promoted
    assert decide(policy, good, floor=0.1).promoted
