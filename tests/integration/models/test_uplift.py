"""The uplift family on a generated campaign whose true effect is known, and the planner on
its champion: behaviour, not fixed numbers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from fixed_dates import END_DATE

from mercato.settings import Settings, get_settings

CAMPAIGN = "spring_newsletter"  # the campaign of the uplift_home fixture


@pytest.fixture(scope="module")
def champion(uplift_home: Settings):
    from models import registry
    from models.uplift import MODEL_NAME

    return registry.load_champion(uplift_home, MODEL_NAME)


def test_the_champion_ranks_by_the_true_effect_better_than_response_targeting(
    uplift_home: Settings, champion
) -> None:
    from models.uplift import feature_matrix
    from warehouse.synthetic_campaigns import generate_campaigns

    model, _ = champion
    fresh = generate_campaigns(end_date=END_DATE, n_customers=4000, campaign=CAMPAIGN, seed=99)
    x = feature_matrix(fresh)
    truth = fresh["true_uplift_mens_e_mail"].to_numpy()
    predicted = model.predict_uplift(CAMPAIGN, "mens_e_mail", x)
    top = int(0.3 * len(fresh))
    by_model = truth[np.argsort(-predicted)[:top]].sum()
    by_chance = truth.mean() * top
    # the hold-out history is kept in the run: the learner must beat random on fresh customers
    assert by_model > 1.3 * by_chance
    assert np.corrcoef(predicted, truth)[0, 1] > 0.3


def test_training_compares_every_learner_with_both_baselines(uplift_home: Settings) -> None:
    from mlflow.tracking import MlflowClient

    from models.registry import client
    from models.uplift import LEARNERS, MODEL_NAME

    c: MlflowClient = client(uplift_home)
    version = c.get_model_version_by_alias(MODEL_NAME, "champion")
    run = c.get_run(version.run_id)
    metrics = run.data.metrics
    for name in (*LEARNERS, "response", "random"):
        assert f"{name}.qini_coefficient" in metrics
        assert f"{name}.auuc" in metrics
    chosen = run.data.params["learner"]
    assert metrics[f"{chosen}.incremental_top30"] > metrics["response.incremental_top30"]
    assert metrics["qini_coefficient"] > metrics["random.qini_coefficient"]
    artifacts = {a.path for a in c.list_artifacts(run.info.run_id)}
    assert {"qini_uplift.png", "plan_calibration.json", "evaluation.json"} <= artifacts


def test_the_plan_stays_within_budget_and_writes_the_audience(
    uplift_home: Settings, tmp_path
) -> None:
    from models.planning import plan_from_registry

    out = tmp_path / "audience.csv"
    plan = plan_from_registry(uplift_home, CAMPAIGN, 300.0, 0.5, 40.0, out=out)
    audience = pd.read_csv(out, dtype={"customer_id": str})
    assert 0 < plan.n_contacts == len(audience) <= 600
    assert plan.spent <= 300.0
    assert list(audience.columns) == [
        "customer_id",
        "treatment",
        "expected_uplift",
        "value",
        "expected_profit",
    ]
    assert audience["customer_id"].is_unique
    assert (audience["expected_profit"] > 0).all()
    assert audience["expected_profit"].is_monotonic_decreasing
    assert set(audience["treatment"]) <= {"mens_e_mail", "womens_e_mail"}
    assert plan.conversions_low <= plan.expected_conversions * 1.5
    assert plan.conversions_low <= plan.conversions_high
    assert plan.profit_low <= plan.profit_high


def test_the_cli_plans_and_refuses_clearly(uplift_home: Settings, tmp_path, monkeypatch, capsys):
    from pipeline.cli import main

    for key, value in uplift_home.to_env().items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "a.csv"
    args = ["campaign", "plan", "--campaign", CAMPAIGN, "--cost-per-contact", "0.5"]
    assert main([*args, "--budget", "50", "--value-per-conversion", "40", "--out", str(out)]) == 0
    assert len(pd.read_csv(out)) <= 100
    assert main([*args, "--budget", "0.4", "--value-per-conversion", "40"]) == 2
    assert "buys no contact" in capsys.readouterr().err
    unknown = ["campaign", "plan", "--campaign", "winter", "--cost-per-contact", "0.5"]
    assert main([*unknown, "--budget", "50", "--value-per-conversion", "40"]) == 2
    err = capsys.readouterr().err
    assert "unknown campaign 'winter'" in err and CAMPAIGN in err
    # no value per conversion and no clv champion: refused, naming what to pass
    assert main([*args, "--budget", "50"]) == 2
    assert "--value-per-conversion" in capsys.readouterr().err


def test_no_champion_is_refused(tmp_path, monkeypatch) -> None:
    from models.planning import PlanRefused, plan_from_registry

    settings = dataclasses.replace(get_settings(), home=tmp_path / "empty", mlflow_tracking_uri="")
    settings.ensure_dirs()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.tracking_uri)
    with pytest.raises(PlanRefused, match="no champion of mercato_uplift"):
        plan_from_registry(settings, CAMPAIGN, 100.0, 0.5, 40.0)
