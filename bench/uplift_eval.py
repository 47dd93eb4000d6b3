"""Every uplift learner beside response and random targeting on one stratified hold-out.

Reads any CSV of a randomised experiment: a treatment column (the control is the value that
``warehouse.sources.campaigns.is_control`` recognises, ``No E-Mail``/``control``/..., or
``--control``; every other value is a treated arm, each judged against the control) and a
binary outcome column. Features are every other column (numbers as they are, text one-hot),
less ``--exclude`` (the other outcomes: by default ``visit``, ``conversion``, ``spend`` and
their source names). Holds out ``--holdout`` of the rows stratified by treatment and outcome,
chooses the champion's learner and estimator on a validation part of the training rows (as the
``uplift`` family does), and prints as JSON per arm: the Qini coefficient, AUUC and incremental
conversions in the top 30 % of every learner x estimator, of response targeting and of random
targeting, scikit-uplift's own TwoModels and ClassTransformation on the same rows, our metrics
next to scikit-uplift's for the same scores, fit times, and whether the champion's top 30 %
beats response targeting's.

A continuous outcome (any value other than 0 and 1, such as ``spend``) is judged with the spend
learners of ``models.uplift_spend`` (two-model, X-learner and two-part on ridge regression and
gradient boosting) against spend-response targeting and random: the Qini coefficient on spend and
the incremental spend in the top 30%, the hold-out stratified by treatment and whether the row
spent anything, the champion again chosen on a validation part of the training rows.

    python bench/uplift_eval.py --data ../shared/data/campaigns/hillstrom.csv \
        --treatment-col segment --outcome-col conversion
    python bench/uplift_eval.py --data ../shared/data/campaigns/hillstrom.csv \
        --treatment-col segment --outcome-col spend
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from models.uplift import (
    ESTIMATORS,
    HOLDOUT_SHARE,
    LEARNER_CLASSES,
    LEARNERS,
    TOP_SHARE,
    VALIDATION_SHARE,
    UpliftCurves,
    make_classifier,
    stratified_split,
    uplift_metrics,
)
from models.uplift_spend import (
    SPEND_ESTIMATORS,
    SPEND_LEARNER_CLASSES,
    SPEND_LEARNERS,
    spend_metrics,
)
from warehouse.sources.campaigns import is_control

#: Random orders averaged for the random-targeting row.
RANDOM_DRAWS = 200
DEFAULT_EXCLUDE = ("visit", "visited", "conversion", "converted", "spend", "customer_id")


def encode(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Numbers as they are (NaN as 0), text one-hot."""
    parts = []
    for column in columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values):
            parts.append(values.astype(float).fillna(0.0).to_numpy()[:, None])
        else:
            dummies = pd.get_dummies(values.astype(str), prefix=column, dtype=float)
            parts.append(dummies.to_numpy())
    return np.hstack(parts)


def _sklift_scores(x_fit, y_fit, t_fit, x_test, seed: int) -> dict[str, np.ndarray]:
    """scikit-uplift's own learners on the same rows (logistic regression inside)."""
    from sklift.models import ClassTransformation, TwoModels

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        two = TwoModels(
            estimator_trmnt=make_classifier("logistic", seed),
            estimator_ctrl=make_classifier("logistic", seed),
            method="vanilla",
        )
        out["sklift_two_models+logistic"] = two.fit(x_fit, y_fit, t_fit).predict(x_test)
        ct = ClassTransformation(estimator=make_classifier("logistic", seed))
        out["sklift_class_transformation+logistic"] = ct.fit(x_fit, y_fit, t_fit).predict(x_test)
    return out


def _sklift_metrics(y, t, s) -> dict[str, float]:
    from sklift.metrics import qini_auc_score, uplift_auc_score

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "qini_coefficient": float(qini_auc_score(y, s, t)),
            "auuc": float(uplift_auc_score(y, s, t)),
        }


def split_rows(t, strata_y, seed: int, holdout: float) -> tuple[np.ndarray, ...]:
    """Hold-out rows stratified by arm and ``strata_y``, and inside the training rows the
    validation rows the champion is chosen on: (fit, test, inner fit, inner validation)."""
    strata = pd.DataFrame({"t": t, "y": strata_y})
    fit_rows, test_rows = stratified_split(strata, holdout, seed, ("t", "y"))
    inner_fit, inner_val = stratified_split(
        strata.iloc[fit_rows].reset_index(drop=True), VALIDATION_SHARE, seed + 1, ("t", "y")
    )
    return fit_rows, test_rows, inner_fit, inner_val


def choose_on_validation(
    classes, learners, estimators, x, y, t, inner_fit, inner_val, seed: int
) -> tuple[str, dict[str, float]]:
    """Every learner x estimator fitted on ``inner_fit`` and scored by Qini on ``inner_val``;
    the champion is the best (ties to the later name), as the ``uplift`` family chooses."""
    validation = {}
    for learner in learners:
        for estimator in estimators:
            model = classes[learner](estimator, seed).fit(x[inner_fit], t[inner_fit], y[inner_fit])
            validation[f"{learner}+{estimator}"] = UpliftCurves(
                y[inner_val], t[inner_val], model.predict(x[inner_val])
            ).qini_coefficient()
    champion = max(validation, key=lambda k: (np.nan_to_num(validation[k], nan=-np.inf), k))
    return champion, validation


def evaluate_arm(x, y, t, seed: int, holdout: float) -> dict:
    """Every contender on one arm-vs-control problem; the champion chosen on validation."""
    fit_rows, test_rows, inner_fit, inner_val = split_rows(t, y, seed, holdout)
    xf, yf, tf = x[fit_rows], y[fit_rows], t[fit_rows]
    xt, yt, tt = x[test_rows], y[test_rows], t[test_rows]
    champion, validation = choose_on_validation(
        LEARNER_CLASSES, LEARNERS, ESTIMATORS, xf, yf, tf, inner_fit, inner_val, seed
    )

    results, scores, seconds = {}, {}, {}
    for learner in (*LEARNERS, "response", "random"):
        for estimator in ESTIMATORS if learner != "random" else ("none",):
            name = f"{learner}+{estimator}" if learner != "random" else "random"
            tick = time.perf_counter()
            model = LEARNER_CLASSES[learner](estimator if estimator != "none" else "logistic", seed)
            model.fit(xf, tf, yf)
            seconds[name] = round(time.perf_counter() - tick, 3)
            scores[name] = model.predict(xt)
    tick = time.perf_counter()
    scores.update(_sklift_scores(xf, yf, tf, xt, seed))
    seconds["sklift (both)"] = round(time.perf_counter() - tick, 3)
    for name, s in scores.items():
        results[name] = uplift_metrics(yt, tt, s, TOP_SHARE)
    # one random order is one draw of noise: report the mean (and spread) of many
    rng = np.random.default_rng(seed)
    draws = [uplift_metrics(yt, tt, rng.random(len(yt)), TOP_SHARE) for _ in range(RANDOM_DRAWS)]
    results["random"] = {k: float(np.mean([d[k] for d in draws])) for k in draws[0]}
    results["random"].update(
        {f"{k}_sd": float(np.std([d[k] for d in draws])) for k in ("qini_coefficient",)}
    )
    key = f"incremental_top{int(round(TOP_SHARE * 100))}"
    response = max((n for n in results if n.startswith("response+")), key=lambda n: results[n][key])
    check = _sklift_metrics(yt, tt, scores[champion])
    ours = results[champion]
    return {
        "n_fit": int(len(fit_rows)),
        "n_holdout": int(len(test_rows)),
        "holdout_conversions": {"treated": int(yt[tt].sum()), "control": int(yt[~tt].sum())},
        "validation_qini": validation,
        "champion": champion,
        "results": results,
        "fit_seconds": seconds,
        "metric_check_vs_sklift": {
            "ours": {k: ours[k] for k in ("qini_coefficient", "auuc")},
            "sklift": check,
        },
        "acceptance": {
            "champion_top30_incremental": ours[key],
            "best_response_top30_incremental": results[response][key],
            "champion_beats_response": bool(ours[key] > results[response][key]),
        },
    }


def evaluate_spend_arm(x, y, t, seed: int, holdout: float) -> dict:
    """Every spend learner on one arm-vs-control problem; the champion chosen on validation."""
    fit_rows, test_rows, inner_fit, inner_val = split_rows(t, y > 0, seed, holdout)
    xf, yf, tf = x[fit_rows], y[fit_rows], t[fit_rows]
    xt, yt, tt = x[test_rows], y[test_rows], t[test_rows]
    champion, validation = choose_on_validation(
        SPEND_LEARNER_CLASSES,
        SPEND_LEARNERS,
        SPEND_ESTIMATORS,
        xf,
        yf,
        tf,
        inner_fit,
        inner_val,
        seed,
    )
    results, seconds = {}, {}
    for learner in (*SPEND_LEARNERS, "response"):
        for estimator in SPEND_ESTIMATORS:
            name = f"{learner}+{estimator}"
            tick = time.perf_counter()
            model = SPEND_LEARNER_CLASSES[learner](estimator, seed).fit(xf, tf, yf)
            seconds[name] = round(time.perf_counter() - tick, 3)
            results[name] = spend_metrics(yt, tt, model.predict(xt), TOP_SHARE)
    rng = np.random.default_rng(seed)
    draws = [spend_metrics(yt, tt, rng.random(len(yt)), TOP_SHARE) for _ in range(RANDOM_DRAWS)]
    results["random"] = {k: float(np.mean([d[k] for d in draws])) for k in draws[0]}
    key = f"incremental_spend_top{int(round(TOP_SHARE * 100))}"
    response = max((n for n in results if n.startswith("response+")), key=lambda n: results[n][key])
    return {
        "n_fit": int(len(fit_rows)),
        "n_holdout": int(len(test_rows)),
        "holdout_spend": {"treated": float(yt[tt].sum()), "control": float(yt[~tt].sum())},
        "validation_qini": validation,
        "champion": champion,
        "results": results,
        "fit_seconds": seconds,
        "acceptance": {
            "champion_top30_incremental_spend": results[champion][key],
            "best_response_top30_incremental_spend": results[response][key],
            "champion_beats_response": bool(results[champion][key] > results[response][key]),
        },
    }


def summarise(runs: list[dict], spend: bool = False) -> dict:
    """Mean and standard deviation over the hold-out splits, per arm and over arms."""
    top = int(round(TOP_SHARE * 100))
    metrics = (
        ("qini_coefficient", f"incremental_spend_top{top}")
        if spend
        else ("qini_coefficient", "auuc", f"incremental_top{top}")
    )
    names = list(next(iter(runs[0].values()))["results"])
    out: dict = {"splits": len(runs), "per_arm": {}, "mean_over_arms": {}}

    def stats(values: list[float]) -> dict[str, float]:
        return {"mean": float(np.mean(values)), "sd": float(np.std(values))}

    for arm in runs[0]:
        out["per_arm"][arm] = {
            name: {m: stats([r[arm]["results"][name][m] for r in runs]) for m in metrics}
            for name in names
        }
        out["per_arm"][arm]["champion"] = {
            m: stats([r[arm]["results"][r[arm]["champion"]][m] for r in runs]) for m in metrics
        }
        out["per_arm"][arm]["champion_beats_response"] = [
            r[arm]["acceptance"]["champion_beats_response"] for r in runs
        ]
    for name in [*names, "champion"]:
        out["mean_over_arms"][name] = {
            m: stats(
                [
                    float(
                        np.mean(
                            [
                                v["results"][v["champion"] if name == "champion" else name][m]
                                for v in r.values()
                            ]
                        )
                    )
                    for r in runs
                ]
            )
            for m in metrics
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--treatment-col", required=True)
    parser.add_argument("--outcome-col", required=True)
    parser.add_argument("--control", help="the control arm's value (default: recognised)")
    parser.add_argument("--exclude", nargs="*", default=list(DEFAULT_EXCLUDE))
    parser.add_argument("--holdout", type=float, default=HOLDOUT_SHARE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeats", type=int, default=5, help="hold-out splits (seeds seed..seed+repeats-1)"
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)

    frame = pd.read_csv(args.data)
    for column in (args.treatment_col, args.outcome_col):
        if column not in frame.columns:
            raise SystemExit(f"no column {column!r} in {args.data}: {', '.join(frame.columns)}")
    arms = frame[args.treatment_col].astype(str)
    control = args.control or next((a for a in sorted(arms.unique()) if is_control(a)), None)
    if control is None or control not in set(arms):
        raise SystemExit(f"no control arm among {sorted(arms.unique())}: pass --control")
    features = [
        c
        for c in frame.columns
        if c not in {args.treatment_col, args.outcome_col} and c not in set(args.exclude)
    ]
    x = encode(frame, features)
    y = frame[args.outcome_col].astype(float).to_numpy()
    spend = not set(np.unique(y[~np.isnan(y)])) <= {0.0, 1.0}
    evaluate = evaluate_spend_arm if spend else evaluate_arm
    out: dict = {
        "data": str(args.data),
        "rows": len(frame),
        "features": features,
        "control": control,
        "holdout_share": args.holdout,
        "outcome": "continuous (spend learners)" if spend else "binary",
        "stratified_by": [
            args.treatment_col,
            f"{args.outcome_col} > 0" if spend else args.outcome_col,
        ],
        "arms": {},
    }
    tick = time.perf_counter()
    runs = []
    for seed in range(args.seed, args.seed + args.repeats):
        per_arm = {}
        for arm in sorted(a for a in arms.unique() if a != control):
            rows = np.flatnonzero((arms == arm) | (arms == control))
            t = (arms.iloc[rows] == arm).to_numpy()
            per_arm[arm] = evaluate(x[rows], y[rows], t, seed, args.holdout)
        runs.append(per_arm)
    out["arms"] = runs[0]
    out["seconds"] = round(time.perf_counter() - tick, 1)
    out["over_splits"] = summarise(runs, spend)
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
