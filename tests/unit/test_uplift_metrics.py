"""Qini and uplift curves on cases checked by hand, the bootstrap weights, the campaigns
source's parsing, and the planner's budget and refusals (pure; no servers, no MLflow)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from models.planning import PlanRefused, plan_campaign
from models.uplift import UpliftCurves, qini_evidence

# Ranked best first: treated converter, treated non-converter, control converter, control
# non-converter, treated non-converter, control converter.
Y = np.array([1, 0, 1, 0, 0, 1])
T = np.array([1, 1, 0, 0, 1, 0])
S = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])


def test_the_qini_curve_is_the_incremental_conversions_of_the_top_rows() -> None:
    x, q = UpliftCurves(Y, T, S).qini()
    # k=3: 1 treated converter - 1 control converter * (2 treated / 1 control) = -1, ...
    assert x.tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert q.tolist() == [0, 1, 1, -1, 0, -0.5, -1]


def test_the_uplift_curve_is_the_rate_difference_times_the_rows() -> None:
    x, u = UpliftCurves(Y, T, S).uplift()
    # k=4: (1/2 - 1/2) * 4 = 0; k=6: (1/3 - 2/3) * 6 = -2
    assert u[4] == pytest.approx(0.0)
    assert u[6] == pytest.approx(-2.0)
    assert u[2] == pytest.approx(1.0)  # no control yet: the control rate counts as 0


def test_ties_count_together() -> None:
    x, q = UpliftCurves(Y, T, np.array([1, 1, 0, 0, 0, 0])).qini()
    assert x.tolist() == [0, 2, 6]


def test_normalised_areas_agree_with_scikit_uplift() -> None:
    sklift = pytest.importorskip("sklift.metrics")
    rng = np.random.default_rng(3)
    y, t, s = rng.integers(0, 2, 400), rng.integers(0, 2, 400), rng.random(400)
    s[:50] = 0.5  # ties too
    curves = UpliftCurves(y, t, s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklift calls a deprecated scikit-learn helper
        assert curves.qini_coefficient() == pytest.approx(sklift.qini_auc_score(y, s, t))
        assert curves.auuc() == pytest.approx(sklift.uplift_auc_score(y, s, t))


def test_a_perfect_ranking_scores_one_and_a_reversed_one_below_zero() -> None:
    rng = np.random.default_rng(0)
    y, t = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    perfect = y * t - y * (1 - t)
    assert UpliftCurves(y, t, perfect).qini_coefficient() == pytest.approx(1.0)
    assert UpliftCurves(y, t, -perfect).qini_coefficient() < 0


def test_weights_count_a_row_that_many_times() -> None:
    w = np.array([2, 1, 1, 3, 1, 2])
    repeated = np.repeat(np.arange(6), w)
    weighted = UpliftCurves(Y, T, S).qini_coefficient(w.astype(float))
    expanded = UpliftCurves(Y[repeated], T[repeated], S[repeated]).qini_coefficient()
    assert weighted == pytest.approx(expanded)


def test_incremental_at_a_share_reads_the_uplift_curve() -> None:
    # top half (3 rows): treated 1/2, control 1/1 -> (0.5 - 1) * 3
    assert UpliftCurves(Y, T, S).incremental_at(0.5) == pytest.approx(-1.5)


def test_qini_evidence_resamples_customers_and_pairs_models() -> None:
    from models.gate import paired_bootstrap

    rng = np.random.default_rng(1)
    n = 2000
    treated = rng.integers(0, 2, n).astype(bool)
    feature = rng.random(n)
    y = (rng.random(n) < 0.05 + 0.2 * treated * feature).astype(int)
    holdout = pd.DataFrame(
        {
            "campaign": "c",
            "treatment": np.where(treated, "mail", "control"),
            "is_control": ~treated,
            "converted": y,
        }
    )
    # groups_of orders the rows: the arm's first, then the control's
    order = np.r_[np.flatnonzero(treated), np.flatnonzero(~treated)]
    good = qini_evidence({}, holdout, {("c", "mail"): feature[order]})
    noise = qini_evidence({}, holdout, {("c", "mail"): rng.random(n)})
    assert good.n_units == n
    assert good.value() > noise.value()
    comparison = paired_bootstrap(good, noise, samples=200)
    assert comparison.low > 0


class _Model:
    """A stand-in uplift champion: three customers, two arms, fixed uplifts."""

    campaigns = ["spring"]
    customer_ids = np.array(["a", "b", "c", "d"], dtype=object)
    calibration: dict = {}
    _uplift = np.array([[0.10, 0.02], [0.01, 0.30], [0.005, 0.0], [0.05, 0.04]])

    def treatments(self, campaign: str) -> list[str]:
        return ["mens", "womens"]

    def uplift_matrix(self, campaign: str, rows: np.ndarray) -> np.ndarray:
        return self._uplift[rows]


def test_the_plan_takes_the_most_profitable_customers_the_budget_buys() -> None:
    # value 40, cost 1: profits b 11 (womens), a 3 (mens), d 1 (mens), c -0.8
    plan = plan_campaign(
        _Model(), "spring", budget=2.5, cost_per_contact=1.0, value_per_conversion=40
    )
    assert [(c, t) for c, t, *_ in plan.audience] == [("b", "womens"), ("a", "mens")]
    assert plan.spent == 2.0 <= plan.budget
    assert plan.expected_conversions == pytest.approx(0.40)
    assert plan.expected_profit == pytest.approx(0.40 * 40 - 2)
    # a bigger budget never buys an unprofitable contact
    big = plan_campaign(
        _Model(), "spring", budget=100, cost_per_contact=1.0, value_per_conversion=40
    )
    assert [c for c, *_ in big.audience] == ["b", "a", "d"]
    assert big.notes and "profitable" in big.notes[0]


def test_the_plan_refuses_clearly() -> None:
    with pytest.raises(PlanRefused, match="buys no contact") as caught:
        plan_campaign(_Model(), "spring", budget=0.5, cost_per_contact=1.0, value_per_conversion=4)
    assert caught.value.field == "budget"
    with pytest.raises(PlanRefused, match="unknown campaign 'winter'.*spring") as caught:
        plan_campaign(_Model(), "winter", budget=5, cost_per_contact=1.0, value_per_conversion=4)
    assert caught.value.status == 404
    with pytest.raises(PlanRefused, match="value-per-conversion") as caught:
        plan_campaign(_Model(), "spring", budget=5, cost_per_contact=1.0)
    assert caught.value.field == "value_per_conversion"
    with pytest.raises(PlanRefused, match="cost_per_contact must be a positive"):
        plan_campaign(_Model(), "spring", budget=5, cost_per_contact=0, value_per_conversion=4)


def test_clv_values_customers_when_no_value_is_given() -> None:
    class Clv:
        new_customer = {"clv": 10.0}

        def values_many(self, ids):
            return [{"clv": 100.0} if c == "c" else None for c in ids]

    plan = plan_campaign(_Model(), "spring", budget=100, cost_per_contact=0.4, clv_model=Clv())
    assert plan.value_source == "clv"
    # c: 0.005 * 100 - 0.4 > 0 is now worth a contact; a: 0.1 * 10 - 0.4
    assert "c" in [c for c, *_ in plan.audience]


def test_the_hillstrom_layout_is_the_campaigns_source_with_derived_ids() -> None:
    from warehouse.sources import recognise
    from warehouse.sources.campaigns import SOURCE, is_control

    columns = ["recency", "history_segment", "history", "mens", "womens", "zip_code"]
    columns += ["newbie", "channel", "segment", "visit", "conversion", "spend"]
    assert recognise(columns).name == "campaigns"
    frame = SOURCE.map_columns(
        pd.DataFrame(
            [[3, "1) $0 - $100", 50.0, 1, 0, "Surburban", 0, "Web", "No E-Mail", 0, 0, 0.0]] * 2,
            columns=columns,
        )
    )
    parsed = SOURCE.parse(frame)
    assert parsed["customer_id_text"].tolist() == ["hillstrom-1", "hillstrom-2"]
    assert parsed["customer_key"].is_unique
    rows = SOURCE.to_rows(parsed)
    assert rows["campaign"].tolist() == ["hillstrom"] * 2
    assert rows["converted"].tolist() == [0, 0]
    assert is_control("No E-Mail") and is_control("control") and not is_control("Mens E-Mail")


def test_bad_outcome_values_fail_their_rules_and_name_the_row_problem() -> None:
    from warehouse.sources.campaigns import SOURCE

    frame = pd.DataFrame(
        {
            "customer_id": ["1", "2", "3"],
            "treatment_arm": ["mail", "control", "mail"],
            "visited": ["1", "yes", "2"],
            "converted": ["0", "1", "x"],
            "spend": ["0", "12.5", "-3"],
        }
    )
    parsed = SOURCE.parse(frame)
    assert parsed["ok_visited"].tolist() == [True, True, False]
    assert parsed["ok_converted"].tolist() == [True, True, False]
    assert parsed["ok_spend"].tolist() == [True, True, False]
    assert parsed["spend_value"].tolist() == [0.0, 12.5, -3.0]
    assert parsed["spend_has_conversion"].tolist() == [True, True, True]
    assert parsed["row_is_valid"].tolist() == [True, True, False]
    assert parsed["row_problem"].iloc[2] == (
        "visited is '2', not 0 or 1 (or true/false); converted is 'x', not 0 or 1 (or "
        "true/false); spend is '-3', not a plain number >= 0 (no currency sign)"
    )


def test_the_qini_per_customer_group_is_each_groups_own_and_undefined_without_a_control() -> None:
    """Group a ranks perfectly (1), group b in reverse (-1/6, by hand: area -0.5 over the
    perfect 3), group c has treated rows only: no effect to measure, so NaN and not judged."""
    from models.fairness import statistic_by_group
    from models.uplift import attribute_groups, uplift_metrics

    rows = [  # group, treated, converted, score
        ("a", 1, 1, 0.9), ("a", 1, 0, 0.5), ("a", 0, 0, 0.4), ("a", 0, 1, 0.1),
        ("b", 1, 1, 0.1), ("b", 1, 0, 0.4), ("b", 0, 0, 0.5), ("b", 0, 1, 0.9),
        ("c", 1, 1, 0.8), ("c", 1, 0, 0.3),
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["zip_code", "treated", "converted", "score"])
    frame["campaign"] = "spring"
    frame["is_control"] = frame["treated"] == 0
    frame["treatment"] = np.where(frame["is_control"], "no_e_mail", "mail")
    rank = frame["score"].to_numpy()
    control, arm = frame.index[frame["is_control"]], frame.index[~frame["is_control"]]
    scores = {("spring", "mail"): rank[np.r_[arm, control]]}
    evidence = qini_evidence({}, frame, scores)
    labels = attribute_groups(frame)["zip_code"]
    report = statistic_by_group(evidence.statistic, labels, min_size=2, dimension="zip_code")

    assert report.groups["a"] == pytest.approx((1.0, 4))
    assert report.groups["b"] == pytest.approx((-1 / 6, 4))
    assert np.isnan(report.groups["c"][0]) and report.groups["c"][1] == 2
    assert report.judged == ("a", "b") and report.gap == pytest.approx(7 / 6)
    for g in ("a", "b"):
        part = frame[frame["zip_code"] == g]
        own = uplift_metrics(part["converted"], part["treated"], part["score"])
        assert report.groups[g][0] == pytest.approx(own["qini_coefficient"])


def test_attribute_groups_name_the_hillstrom_attributes() -> None:
    from models.uplift import attribute_groups

    frame = pd.DataFrame(
        {"zip_code": ["Surburban", "Urban", None], "newbie": [1, 0, None], "channel": ["Web"] * 3}
    )
    groups = attribute_groups(frame)
    assert groups["zip_code"].tolist() == ["suburban", "urban", "unknown"]
    assert groups["newbie"].tolist() == ["new", "existing", "unknown"]
    assert groups["channel"].tolist() == ["web"] * 3
    assert attribute_groups(frame.drop(columns="channel")).keys() == {"zip_code", "newbie"}
