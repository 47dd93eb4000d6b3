"""Metrics per customer group, the largest gap, and the propensity mitigation, on real data.

Builds a data folder from an order file (default: the UCI Online Retail file beside the
checkout) through the real stages (ingest, dbt, features), or reuses one with ``--home``, then
for every family that scores customers runs its own ``split``, ``fit`` and ``groups`` (nothing
is registered) and prints the gate's primary metric per country group and tenure cohort on
the family's hold-out, with the largest gap between judged groups (at least
``MERCATO_FAIRNESS_MIN_GROUP_SIZE`` hold-out units; smaller groups are shown, not judged):

- propensity and churn: ROC-AUC per (customer, snapshot) row of the hold-out, for the served
  logistic regression and the family's baselines;
- clv: hold-out R^2 of purchase days per calibration customer;
- recommendation: NDCG@10 per hold-out customer (``--skip-recommendation`` to save minutes);
- uplift, with ``--campaigns FILE`` (e.g. the Hillstrom/MineThatData e-mail test): the Qini
  coefficient per hold-out customer group (zip-code type, new customer, channel; country and
  tenure only where the file's customers are the shop's), for the chosen learner and the
  response-targeting baseline. ``--families uplift`` skips the order families (and the order
  file).

Propensity mitigation, side by side on the same hold-out: the served model; the same model
refitted with reweighing (``models.fairness.reweighing_weights``) on the country group and on
the tenure cohort; and, where ``fairlearn`` is importable, its ``ThresholdOptimizer`` (true
positive rate parity across country groups) on the served model's probabilities. For each:
ROC-AUC, log loss, the ROC-AUC gap, and at the decision "contact when p >= 0.5" the accuracy
and the gap in true positive rate (the share of next month's buyers contacted) between groups.

With ``--reviews FILE`` (the Women's E-Commerce Clothing Reviews file) it also trains the
sentiment family's text model (``models.sentiment.fit_text_model``) on the family's product
split of that file and prints ROC-AUC per reviewer age band.

    python bench/fairness_eval.py [--data FILE | --home DIR] [--reviews FILE] [--json OUT]
    python bench/fairness_eval.py --families uplift \
        --campaigns ../shared/data/campaigns/hillstrom.csv

``fairlearn`` 0.15.0 is not a dependency; to include it, install it beside the project, e.g.
``uv pip install --target /tmp/fl fairlearn==0.15.0 --no-deps`` and run with
``PYTHONPATH=/tmp/fl``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from mercato.settings import Settings, get_settings, real_data_path  # noqa: E402
from models.fairness import (  # noqa: E402
    AGE,
    COUNTRY,
    TENURE,
    GroupReport,
    age_band,
    customer_groups,
    group_metrics,
    reweighing_weights,
)

FAMILIES = ("propensity", "churn", "clv", "recommendation")


def build_home(data: Path, root: Path) -> Settings:
    """Ingest, transform and export features for ``data`` into a fresh data folder."""
    from pipeline import stages

    settings = dataclasses.replace(get_settings(), home=root / "home", mlflow_tracking_uri="")
    settings.ensure_dirs()
    stages.ingest(settings, data)
    stages.transform(settings)
    stages.features(settings)
    return settings


def add_campaigns(settings: Settings, campaigns: Path) -> Settings:
    """Ingest a campaign file (source recognised by its columns) and build its mart."""
    from pipeline import stages

    stages.ingest(settings, campaigns)
    stages.transform(settings, select="+campaign_exposures")
    return settings


def _report_dict(report: GroupReport) -> dict[str, Any]:
    return {
        "groups": {g: {"value": v, "n": n} for g, (v, n) in report.groups.items()},
        "judged": list(report.judged),
        "gap": report.gap,
    }


def family_report(settings: Settings, name: str) -> dict[str, Any]:
    """The family's served model (and, for propensity and churn, its baselines) per group."""
    from models.family import get_family

    family = get_family(name, settings)
    started = time.perf_counter()
    split = family.split(family.load_data(settings), settings)
    fitted = family.fit(split, settings)
    groups = family.groups(split, settings)
    models = {"served": fitted.model}
    if name == "propensity":
        contenders = fitted.state["contenders"]
        models.update({k: v for k, v in contenders.items() if k != "logistic"})
    if name == "churn":
        from models.churn import GradientBoosting, RecencyRule

        models["hist_gradient_boosting"] = GradientBoosting(split.train, settings.seed)
        models["recency_rule"] = RecencyRule(split.train)
    if name == "uplift":
        from models.uplift import fit_learners

        response = fit_learners(split.train, "response", fitted.params["estimator"], settings.seed)
        models["response_targeting"] = _ResponseTargeting(response)
    out: dict[str, Any] = {"metric": family.metric, "models": {}}
    for label, model in models.items():
        evidence = family.evaluate(model, split, fitted)
        evidence = dataclasses.replace(evidence, groups=groups)
        reports = evidence.group_reports(settings.fairness_min_group_size)
        out["models"][label] = {
            "overall": evidence.value(),
            "n_units": evidence.n_units,
            "dimensions": {dim: _report_dict(r) for dim, r in reports.items()},
        }
    out["seconds"] = time.perf_counter() - started
    if name == "propensity":
        out["mitigation"] = propensity_mitigation(settings, split, fitted, groups)
    return out


class _ResponseTargeting:
    """The uplift family's response baseline behind the model's ``predict_uplift``."""

    def __init__(self, learners: dict[tuple[str, str], Any]) -> None:
        self.learners = learners

    def predict_uplift(self, campaign: str, treatment: str, x: np.ndarray) -> np.ndarray:
        return self.learners[(campaign, treatment)].predict(x)


def segmentation_shares(settings: Settings) -> dict[str, Any]:
    """Segmentation has no label, so no metric per group: instead the share of each country
    group and tenure cohort in every segment (all customers at the latest snapshot), beside
    the group's share of the whole base."""
    import pandas as pd

    from models.family import get_family
    from models.segmentation import _raw

    family = get_family("segmentation", settings)
    split = family.split(family.load_data(settings), settings)
    model = family.fit(split, settings).model
    data = split.data
    segments = np.asarray(model.assign_many(_raw(data)))
    names = {seg: p["name"] for seg, p in model.profiles.items()}
    groups = customer_groups(settings, data["customer_id"], data["event_timestamp"])
    out: dict[str, Any] = {}
    for dim, labels in groups.items():
        table = pd.crosstab(pd.Series(segments, name="segment"), pd.Series(labels, name=dim))
        shares = table.div(table.sum(axis=1), axis=0)
        base = pd.Series(labels).value_counts(normalize=True)
        out[dim] = {
            "base": {str(g): float(v) for g, v in base.items()},
            "segments": {
                str(names.get(seg, seg)): {str(g): float(v) for g, v in row.items()}
                for seg, row in shares.iterrows()
            },
        }
    return out


# -- propensity mitigation -------------------------------------------------------------------
def _decision_metrics(
    y: np.ndarray,
    p: np.ndarray | None,
    decision: np.ndarray,
    groups: dict[str, np.ndarray],
    min_size: int,
) -> dict[str, Any]:
    from sklearn.metrics import log_loss, roc_auc_score

    def tpr(yy: np.ndarray, dd: np.ndarray) -> float:
        return float(dd[yy == 1].mean()) if (yy == 1).any() else float("nan")

    out: dict[str, Any] = {
        "accuracy": float((decision == y).mean()),
        "contacted_share": float(decision.mean()),
        "tpr": tpr(y, decision),
    }
    if p is not None:
        out["roc_auc"] = float(roc_auc_score(y, p))
        out["log_loss"] = float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1]))
    for dim, labels in groups.items():
        tprs = group_metrics(tpr, y, decision, labels, min_size, dim)
        out[f"{dim}.tpr_gap"] = tprs.gap
        out[f"{dim}.tpr"] = {g: v for g, (v, _) in tprs.groups.items() if g in tprs.judged}
        if p is not None:
            aucs = group_metrics(roc_auc_score, y, p, labels, min_size, dim)
            out[f"{dim}.auc_gap"] = aucs.gap
    return out


def propensity_mitigation(
    settings: Settings, split: Any, fitted: Any, groups: dict[str, np.ndarray]
) -> dict[str, Any]:
    """The served model against reweighing and ThresholdOptimizer on the same hold-out."""
    from models.propensity import _features, fit_logistic

    train, test = split.train, split.holdout
    min_size = settings.fairness_min_group_size
    y = test["label"].to_numpy().astype(int)
    model = fitted.model
    c = float(fitted.params["C"])
    train_groups = customer_groups(settings, train["customer_id"], train["event_timestamp"])
    out: dict[str, Any] = {}
    p = model.predict_proba_many(_features(test, model.feature_names))
    out["served"] = _decision_metrics(y, p, (p >= 0.5).astype(int), groups, min_size)
    for dim in (COUNTRY, TENURE):
        weights = reweighing_weights(train_groups[dim], train["label"])
        refit = fit_logistic(train, c, sample_weight=weights)
        q = refit.predict_proba_many(_features(test, refit.feature_names))
        out[f"reweighed_{dim}"] = _decision_metrics(y, q, (q >= 0.5).astype(int), groups, min_size)
    try:
        from fairlearn.postprocessing import ThresholdOptimizer
    except ImportError:
        out["threshold_optimizer"] = "fairlearn is not importable: skipped"
        return out
    estimator = _Probabilities(model)
    for dim in (COUNTRY, TENURE):
        optimizer = ThresholdOptimizer(
            estimator=estimator,
            constraints="true_positive_rate_parity",
            objective="accuracy_score",
            prefit=True,
            predict_method="predict_proba",
        )
        x_train = _features(train, model.feature_names)
        optimizer.fit(x_train, train["label"].astype(int), sensitive_features=train_groups[dim])
        decision = optimizer.predict(
            _features(test, model.feature_names),
            sensitive_features=groups[dim],
            random_state=settings.seed,
        )
        out[f"threshold_optimizer_{dim}"] = _decision_metrics(
            y, None, np.asarray(decision).astype(int), groups, min_size
        )
    return out


class _Probabilities(ClassifierMixin, BaseEstimator):
    """The served propensity model as a fitted scikit-learn classifier (for fairlearn)."""

    def __init__(self, model: Any = None) -> None:
        self.model = model
        self.classes_ = np.array([0, 1])

    def fit(self, x: Any, y: Any) -> _Probabilities:
        return self

    def predict_proba(self, x: Any) -> np.ndarray:
        p = np.asarray(self.model.predict_proba_many(np.asarray(x, dtype=float)), dtype=float)
        return np.column_stack([1 - p, p])

    def predict(self, x: Any) -> np.ndarray:
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(int)

    def __sklearn_is_fitted__(self) -> bool:
        return True


# -- sentiment by age band -------------------------------------------------------------------
def sentiment_by_age(reviews: Path, settings: Settings) -> dict[str, Any]:
    """ROC-AUC per reviewer age band of the family's text model on the product split of the
    reviews file (the pipeline drops ``Age`` at ingest, so this reads the file itself)."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from models.sentiment import _texts, fit_text_model, product_split

    raw = pd.read_csv(reviews, index_col=0)
    frame = pd.DataFrame(
        {
            "review_id": raw.index.astype(str),
            "product_id": raw["Clothing ID"].astype(str),
            "text": raw["Review Text"].fillna("").astype(str),
            "title": raw["Title"].fillna("").astype(str),
            "rating": raw["Rating"].astype(int),
            "age": raw["Age"],
        }
    )
    frame = frame[(frame["text"].str.strip() != "") & (frame["rating"] != 3)].reset_index(drop=True)
    frame["is_positive"] = (frame["rating"] >= 4).astype(int)
    train, test = product_split(frame, settings.seed)
    started = time.perf_counter()
    pipeline, c, _ = fit_text_model(
        _texts(train), train["is_positive"].to_numpy(), train["product_id"]
    )
    p = pipeline.predict_proba(_texts(test))[:, 1]
    y = test["is_positive"].to_numpy()
    report = group_metrics(
        roc_auc_score, y, p, age_band(test["age"]), settings.fairness_min_group_size, AGE
    )
    positive = group_metrics(lambda yy, _: float(np.mean(yy)), y, p, age_band(test["age"]), 1, AGE)
    return {
        "metric": "roc_auc",
        "overall": float(roc_auc_score(y, p)),
        "C": c,
        "n_train": len(train),
        "n_holdout": len(test),
        "seconds": time.perf_counter() - started,
        "dimensions": {AGE: _report_dict(report)},
        "positive_share": {g: v for g, (v, _) in positive.groups.items()},
    }


# -- output ----------------------------------------------------------------------------------
def print_tables(report: dict[str, Any]) -> None:
    """Markdown tables: per family and dimension, each group's metric and n, and the gap."""
    for name, fam in report["families"].items():
        if "error" in fam:
            print(f"\n{name}: {fam['error']}")
            continue
        served = fam["models"]["served"]
        overall = f"{served['overall']:.4f}, {served['n_units']} units"
        print(f"\n### {name} ({fam['metric']} on the hold-out: {overall})")
        for dim, r in served["dimensions"].items():
            cells = ", ".join(
                f"{g} {c['value']:.3f} (n={c['n']}{'' if g in r['judged'] else ', not judged'})"
                for g, c in r["groups"].items()
            )
            print(f"- {dim}: {cells}; **largest gap {r['gap']:.3f}**")
        others = {k: v for k, v in fam["models"].items() if k != "served"}
        for label, m in others.items():
            gaps = ", ".join(f"{d} gap {r['gap']:.3f}" for d, r in m["dimensions"].items())
            print(f"  - {label}: {fam['metric']} {m['overall']:.4f}; {gaps}")
        if "mitigation" in fam:
            columns = (
                "propensity model | ROC-AUC | log loss | AUC gap country | AUC gap tenure | "
                "accuracy@0.5 | TPR | TPR gap country | TPR gap tenure"
            )
            print(f"\n| {columns} |")
            print("|---|---|---|---|---|---|---|---|---|")
            for label, m in fam["mitigation"].items():
                if isinstance(m, str):
                    print(f"| {label} | {m} |")
                    continue

                def f(key: str, m: dict[str, Any] = m) -> str:
                    v = m.get(key)
                    return "" if v is None or not np.isfinite(v) else f"{v:.4f}"

                print(
                    f"| {label} | {f('roc_auc')} | {f('log_loss')} | {f(COUNTRY + '.auc_gap')} | "
                    f"{f(TENURE + '.auc_gap')} | {f('accuracy')} | {f('tpr')} | "
                    f"{f(COUNTRY + '.tpr_gap')} | {f(TENURE + '.tpr_gap')} |"
                )
    for dim, table in report.get("segmentation_shares", {}).items():
        groups = sorted(table["base"])
        print(f"\n| segment: share of each {dim} | " + " | ".join(groups) + " |")
        print("|---" * (len(groups) + 1) + "|")
        print("| all customers | " + " | ".join(f"{table['base'][g]:.3f}" for g in groups) + " |")
        for seg, row in table["segments"].items():
            print(f"| {seg} | " + " | ".join(f"{row.get(g, 0.0):.3f}" for g in groups) + " |")
    if "sentiment" in report:
        s = report["sentiment"]
        r = s["dimensions"][AGE]
        cells = ", ".join(
            f"{g} {c['value']:.3f} (n={c['n']}{'' if g in r['judged'] else ', not judged'})"
            for g, c in r["groups"].items()
        )
        print(f"\n### sentiment (roc_auc {s['overall']:.4f}, {s['n_holdout']} hold-out reviews)")
        print(f"- {AGE}: {cells}; **largest gap {r['gap']:.3f}**")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="order file (default: real)")
    parser.add_argument("--home", type=Path, default=None, help="an already built data folder")
    parser.add_argument("--reviews", type=Path, default=None, help="the clothing reviews file")
    parser.add_argument("--skip-recommendation", action="store_true", help="save its minutes")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--campaigns", type=Path, default=None, help="a campaign file (uplift)")
    parser.add_argument("--families", default=None, help="comma list (default: all)")
    args = parser.parse_args(argv)

    names = [n for n in FAMILIES if not (args.skip_recommendation and n == "recommendation")]
    if args.families:
        names = [n.strip() for n in args.families.split(",") if n.strip()]
    if args.campaigns is not None and "uplift" not in names:
        names.append("uplift")
    orders = any(n in FAMILIES for n in names)
    with tempfile.TemporaryDirectory(prefix="mercato-fairness-") as tmp:
        if args.home is not None:
            settings = dataclasses.replace(get_settings(), home=args.home, mlflow_tracking_uri="")
        elif not orders:
            settings = dataclasses.replace(
                get_settings(), home=Path(tmp) / "home", mlflow_tracking_uri=""
            )
            settings.ensure_dirs()
        else:
            data = args.data or real_data_path()
            if not data.is_file():
                print(f"order file not found: {data}", file=sys.stderr)
                return 2
            settings = build_home(data, Path(tmp))
        if args.campaigns is not None:
            add_campaigns(settings, args.campaigns)
        report: dict[str, Any] = {
            "min_group_size": settings.fairness_min_group_size,
            "families": {},
        }
        for name in names:
            try:
                report["families"][name] = family_report(settings, name)
            except ValueError as err:
                report["families"][name] = {"error": str(err)}
        if orders:
            report["segmentation_shares"] = segmentation_shares(settings)
        if args.reviews is not None:
            report["sentiment"] = sentiment_by_age(args.reviews, settings)
    text = json.dumps(report, indent=2, default=str)
    if args.json is not None:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    print_tables(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
