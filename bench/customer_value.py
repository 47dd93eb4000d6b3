"""Customer value on real data: the clv and churn families against their baselines.

Builds a data folder from an order file (default: the UCI Online Retail file beside the
checkout) through the real stages (ingest, dbt, features), or reuses one with ``--home``, then
runs the families' own ``split`` and ``fit`` (nothing is registered) and prints:

- CLV: predicted vs actual purchase days in the hold-out (the last ``clv_holdout_days``), in
  total and per calibration-frequency bucket, for BG/NBD, Pareto/NBD, the baseline "each
  customer repeats their calibration rate" and, where it is importable, the ``lifetimes``
  library's BG/NBD on the same summaries; R^2 and MAE per customer; fit seconds;
- churn: ROC-AUC, PR-AUC, Brier and calibration error (ECE, 10 bins) on the hold-out snapshot
  of the logistic model, gradient boosting, the recency rule and BG/NBD (1 - P(alive), and
  P(no purchase within the horizon)); fit seconds.

    python bench/customer_value.py [--data FILE | --home DIR] [--json OUT]

``lifetimes`` 0.11.3 is not a dependency; to include it, install it beside the project, e.g.
``uv pip install --target /tmp/lt lifetimes==0.11.3 autograd dill --no-deps`` and run with
``PYTHONPATH=/tmp/lt``.
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

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from mercato.settings import Settings, get_settings, real_data_path  # noqa: E402


def build_home(data: Path, root: Path) -> tuple[Settings, dict[str, float]]:
    """Ingest, transform and export features for ``data`` into a fresh data folder."""
    from pipeline import stages

    settings = dataclasses.replace(get_settings(), home=root / "home", mlflow_tracking_uri="")
    settings.ensure_dirs()
    seconds = {}
    for name, step in (
        ("ingest", lambda: stages.ingest(settings, data)),
        ("transform", lambda: stages.transform(settings)),
        ("features", lambda: stages.features(settings)),
    ):
        started = time.perf_counter()
        step()
        seconds[name] = time.perf_counter() - started
    return settings, seconds


def lifetimes_bgnbd(calibration: Any, days: float) -> dict[str, Any] | None:
    """lifetimes' ``BetaGeoFitter`` on the same calibration summary, if it is importable."""
    try:
        from lifetimes import BetaGeoFitter
    except ImportError:
        return None
    started = time.perf_counter()
    fitter = BetaGeoFitter(penalizer_coef=0.0).fit(
        calibration["frequency"], calibration["recency_days"], calibration["age_days"]
    )
    seconds = time.perf_counter() - started
    predicted = fitter.conditional_expected_number_of_purchases_up_to_time(
        days, calibration["frequency"], calibration["recency_days"], calibration["age_days"]
    )
    return {
        "params": {k: float(v) for k, v in fitter.params_.items()},
        "fit_seconds": seconds,
        "predicted": np.asarray(predicted, dtype=float),
    }


def clv_report(settings: Settings) -> dict[str, Any]:
    from models import clv

    family = clv.ClvFamily(candidates=("bgnbd", "pareto_nbd"))
    started = time.perf_counter()
    data = family.load_data(settings)
    split = family.split(data, settings)
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    fitted = family.fit(split, settings)
    fit_seconds = time.perf_counter() - started
    calibration, days = split.train, clv.holdout_days_of(split)
    actual = split.holdout["holdout_frequency"].to_numpy(dtype=float)
    predictions = {
        name: model.expected_purchases(days, *clv._rft(calibration))
        for name, model in fitted.state.get("fits", {}).items()
    }
    predictions["calibration_rate"] = clv.calibration_rate_baseline(calibration, days)
    comparison = dict(fitted.details["comparison"])
    library = lifetimes_bgnbd(calibration, days)
    if library is not None:
        predictions["lifetimes_bgnbd"] = library.pop("predicted")
        comparison["lifetimes_bgnbd"] = clv.forecast_metrics(actual, predictions["lifetimes_bgnbd"])
    return {
        "info": split.info,
        "purchase_model_served": fitted.details["purchase_model"],
        "comparison": comparison,
        "buckets": clv.bucket_table(calibration["frequency"].to_numpy(), actual, predictions),
        "revenue": fitted.details["revenue"],
        "params": fitted.details["params"],
        "fit_seconds": {**fitted.details["fit_seconds"], "family_fit_total": fit_seconds},
        "load_seconds": load_seconds,
        "lifetimes": library or "not importable (see the module docstring)",
    }


def churn_report(settings: Settings) -> dict[str, Any]:
    from models import churn

    family = churn.FAMILY
    started = time.perf_counter()
    data = family.load_data(settings)
    split = family.split(data, settings)
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    fitted = family.fit(split, settings)
    fit_seconds = time.perf_counter() - started
    return {
        "info": split.info,
        "comparison": fitted.details["comparison"],
        "load_seconds": load_seconds,
        "fit_seconds": fit_seconds,
        "C": fitted.params["C"],
    }


def print_tables(report: dict[str, Any]) -> None:
    value = report["clv"]
    print(f"\nCLV hold-out: {value['info']}")
    print("| model | predicted total | actual total | R^2 | MAE per customer |")
    print("|---|---:|---:|---:|---:|")
    for name, m in value["comparison"].items():
        print(
            f"| {name} | {m['predicted_total']:,.0f} | {m['actual_total']:,.0f} | "
            f"{m['holdout_r2']:.3f} | {m['holdout_mae']:.3f} |"
        )
    names = [k[: -len("_mean")] for k in value["buckets"][0] if k.endswith("_mean")]
    print("\n| calibration purchases | customers | " + " | ".join(names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    for row in value["buckets"]:
        cells = " | ".join(f"{row[f'{n}_mean']:.2f}" for n in names)
        print(f"| {row['calibration_frequency']} | {row['customers']} | {cells} |")
    print(f"\nCLV fit seconds: {value['fit_seconds']}")
    risk = report["churn"]
    print(f"\nChurn hold-out: {risk['info']}")
    print("| model | ROC-AUC | PR-AUC | Brier | ECE |")
    print("|---|---:|---:|---:|---:|")
    for name, m in risk["comparison"].items():
        cells = " | ".join(f"{m[k]:.3f}" for k in ("roc_auc", "pr_auc", "brier", "ece"))
        print(f"| {name} | {cells} |")
    print(f"\nChurn: data {risk['load_seconds']:.1f} s, fit {risk['fit_seconds']:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="order file (default: real)")
    parser.add_argument("--home", type=Path, default=None, help="an already built data folder")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="mercato-value-") as tmp:
        if args.home is not None:
            settings = dataclasses.replace(get_settings(), home=args.home, mlflow_tracking_uri="")
            stage_seconds: dict[str, float] = {}
        else:
            data = args.data or real_data_path()
            if not data.is_file():
                print(f"order file not found: {data}", file=sys.stderr)
                return 2
            settings, stage_seconds = build_home(data, Path(tmp))
        report = {
            "stages_seconds": stage_seconds,
            "clv": clv_report(settings),
            "churn": churn_report(settings),
        }
    text = json.dumps(report, indent=2, default=str)
    if args.json is not None:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)
    print_tables(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
