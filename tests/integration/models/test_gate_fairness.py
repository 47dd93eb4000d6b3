"""The gate on MLflow refuses a challenger that widens the gap between customer groups.

The groups are chosen so that the strong challenger of ``gate_models`` (clearly better
overall, promoted without groups: ``test_gate``) ranks one group far better than the other:
group ``helped`` holds the rows where the weak feature it adds points the right way.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from gate_models import CHAMPION, FEATURES, STRONG, holdout, scorer

from mercato.settings import Settings
from models import registry
from models.gate import Policy
from models.propensity import propensity_evidence


def test_the_registry_records_group_metrics_and_refuses_a_widening_challenger(
    settings: Settings,
) -> None:
    from models import tracking

    data = holdout()
    helped = data["f1"] * (2 * data["label"] - 1) > 0
    groups = {"country_group": np.where(helped, "helped", "hurt")}

    def gate(weights: tuple[float, ...], limits: Settings = settings) -> registry.GateDecision:
        model = scorer(*weights)
        with tracking.start_run(settings, "gate-fairness", "gate_fairness") as run:
            info = tracking.log_pyfunc(model, data[FEATURES].head(3))
        return registry.register_and_gate(
            settings,
            "gate_fairness",
            info.model_uri,
            run.info.run_id,
            challenger=dataclasses.replace(propensity_evidence(model, data), groups=groups),
            evidence=lambda m: dataclasses.replace(propensity_evidence(m, data), groups=groups),
            policy=Policy.from_settings(limits, "roc_auc", minimum=0.55, chance=0.5),
            tags={"weights": weights},
        )

    first = gate(CHAMPION)
    assert first.promoted
    strong = gate(STRONG)
    assert not strong.promoted and strong.deltas["roc_auc"] > 0.02
    assert "widens the gap of roc_auc" in strong.reason and "country_group gap" in strong.reason
    assert "worst hurt" in strong.reason, strong.reason
    tags = registry.client(settings).get_model_version("gate_fairness", strong.version).tags
    gap, champion_gap = (
        float(tags[f"fairness.country_group.{k}"]) for k in ("gap", "champion_gap")
    )
    assert gap - champion_gap > settings.gate_max_gap_widening
    assert tags["fairness.country_group.judged"] == "helped,hurt"
    assert registry.champion_version(settings, "gate_fairness") == first.version

    # the same better model, allowed any widening: promoted
    loose = dataclasses.replace(settings, gate_max_gap_widening=1.0)
    retried = gate((1.0, 0.3, 0.0, 0.01), loose)
    assert retried.promoted, retried.reason


@pytest.mark.parametrize(
    "model_name",
    ["mercato_propensity", "mercato_churn", "mercato_clv", "mercato_recommender"],
)
def test_a_pipeline_run_records_each_champion_metric_per_customer_group(
    pipeline_home: Settings, model_name: str
) -> None:
    """The run's gated versions (promoted or not) carry their hold-out metric per country group
    and tenure cohort, and the recorded gap is the spread of the judged groups (none judged:
    no gap)."""
    versions = registry.client(pipeline_home).search_model_versions(f"name='{model_name}'")
    gated = [v for v in versions if "gate.decision" in v.tags]
    assert gated, f"{model_name} has no gated version after the run"
    tags = max(gated, key=lambda v: int(v.version)).tags
    sizes = []
    for dim in ("country_group", "tenure_cohort"):
        groups = json.loads(tags[f"fairness.{dim}.groups"])
        judged = [g for g in tags[f"fairness.{dim}.judged"].split(",") if g]
        sizes.append(sum(n for _, n in groups.values()))
        values = [groups[g][0] for g in judged]
        if len(values) >= 2:
            assert float(tags[f"fairness.{dim}.gap"]) == pytest.approx(
                max(values) - min(values), abs=1e-5
            )
        else:
            assert tags[f"fairness.{dim}.gap"] == ""
        assert all(groups[g][1] >= pipeline_home.fairness_min_group_size for g in judged)
    assert sizes[0] == sizes[1] > 0  # both dimensions label every hold-out unit
    assert "United Kingdom" in json.loads(tags["fairness.country_group.groups"])


def test_the_uplift_version_records_its_qini_per_customer_group(pipeline_home: Settings) -> None:
    """The generated campaign goes to the shop's order customers and carries the attributes at
    send time, so the gated uplift version has the Qini per country group, tenure cohort,
    zip-code type, new/existing customer and channel, each dimension labelling every hold-out
    row once."""
    versions = registry.client(pipeline_home).search_model_versions("name='mercato_uplift'")
    gated = [v for v in versions if "gate.decision" in v.tags]
    assert gated, "mercato_uplift has no gated version after the run"
    tags = max(gated, key=lambda v: int(v.version)).tags
    dims = ("country_group", "tenure_cohort", "zip_code", "newbie", "channel")
    sizes = {
        dim: sum(n for _, n in json.loads(tags[f"fairness.{dim}.groups"]).values()) for dim in dims
    }
    assert len(set(sizes.values())) == 1 and sizes["zip_code"] > 0, sizes
    assert set(json.loads(tags["fairness.zip_code.groups"])) == {"urban", "suburban", "rural"}
    assert set(json.loads(tags["fairness.newbie.groups"])) == {"new", "existing"}
    assert "United Kingdom" in json.loads(tags["fairness.country_group.groups"])
    zips = json.loads(tags["fairness.zip_code.groups"])
    judged = [g for g in tags["fairness.zip_code.judged"].split(",") if g]
    assert len(judged) >= 2
    values = [zips[g][0] for g in judged]
    assert float(tags["fairness.zip_code.gap"]) == pytest.approx(
        max(values) - min(values), abs=1e-5
    )
