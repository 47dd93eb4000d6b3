"""Behaviour of the session intent family: its models on generated sessions, and the family
trained through the warehouse (generated sessions landed, dbt's ``fct_sessions``, MLflow)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fixed_dates import END_DATE
from session_data import mart_like

from mercato.settings import Settings


@pytest.fixture(scope="module")
def sessions() -> pd.DataFrame:
    return mart_like(1500, seed=3)


@pytest.mark.parametrize("kind", ["logistic", "gradient_boosting"])
def test_one_session_scores_like_its_row_of_a_frame(sessions, kind) -> None:
    from models.session_intent import fit_calibrated

    model, cv_loss = fit_calibrated(kind, sessions, seed=1, folds=3)
    assert 0 < cv_loss < 0.69
    rows = sessions.drop(columns="label").head(20)
    many = model.predict_proba_many(rows)
    one = [model.predict_proba(r) for r in rows.to_dict(orient="records")]
    assert np.allclose(many, one)
    assert np.allclose(model.predict_proba_rows(rows.to_dict(orient="records")), many)
    assert ((many > 0) & (many < 1)).all()
    # codes sent as numbers or text are one category; an unseen code adds nothing
    first = rows.iloc[0].to_dict()
    assert model.predict_proba({**first, "browser": str(first["browser"])}) == pytest.approx(
        model.predict_proba(first)
    )
    unseen = model.predict_proba({**first, "traffic_type": 999})
    assert 0 < unseen < 1


def test_more_product_engagement_and_page_value_raise_the_probability(sessions) -> None:
    from models.session_intent import fit_calibrated

    model, _ = fit_calibrated("logistic", sessions, seed=1, folds=3)
    base = sessions.drop(columns="label").iloc[0].to_dict()
    browsing = {**base, "page_value": 0.0, "product_pages": 2, "product_seconds": 30.0}
    buying = {**browsing, "page_value": 60.0}
    assert model.predict_proba(buying) > model.predict_proba(browsing)


def test_calibrated_probabilities_follow_the_observed_rate(sessions) -> None:
    from models.session_intent import calibration_table, fit_calibrated, stratified_split

    train, test = stratified_split(mart_like(3000, seed=8), seed=0)
    model, _ = fit_calibrated("logistic", train, seed=0, folds=3)
    p = model.predict_proba_many(test)
    assert abs(p.mean() - test["label"].mean()) < 0.03
    table = calibration_table(model, test, bins=5)
    assert all(abs(r["predicted"] - r["observed"]) < 0.12 for r in table), table


def test_the_family_trains_through_the_warehouse_and_beats_the_page_value_rule(
    settings: Settings, tmp_path
) -> None:
    from models import registry, training
    from pipeline import stages
    from warehouse.synthetic_sessions import write_sessions

    path = write_sessions(tmp_path / "sessions.csv", 2000, seed=21, end_date=END_DATE)
    stages.ingest(settings, path)
    stages.transform(settings, select="stg_sessions fct_sessions")
    result = training.train("session_intent", settings)
    hold_out = result.details["hold_out"]
    chosen = result.details["chosen"]
    assert chosen in ("logistic", "gradient_boosting")
    rule = hold_out["page_value_rule"]["roc_auc"]
    assert result.metrics["roc_auc"] == pytest.approx(hold_out[chosen]["roc_auc"])
    assert result.metrics["roc_auc"] > rule > 0.6
    assert result.metrics["pr_auc"] > hold_out["page_value_rule"]["pr_auc"]
    assert result.metrics["ece"] < 0.05
    assert result.promoted and result.version == "1"
    served = registry.load_version(settings, "mercato_session_intent", result.version)
    row = {"product_pages": 20, "product_seconds": 900.0, "page_value": 40.0,
           "exit_rate": 0.01, "month": "Nov", "visitor_type": "New_Visitor"}  # fmt: skip
    assert 0 < served.predict_proba(row) < 1
