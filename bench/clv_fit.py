"""Fit the BTYD customer-value models on a transaction log and score them on a hold-out.

Reads a transaction file (Parquet, CSV, or whitespace-aligned text such as CDNOW), builds one
row per customer with ``models.btyd.customer_summary`` (one purchase per customer-day), fits
BG/NBD and Pareto/NBD (and Gamma-Gamma when ``--value-col`` is given) and prints JSON:
parameters, log-likelihoods and fit seconds. With ``--calibration-end`` the models are fitted on
the calibration period only and the JSON adds the hold-out check: predicted vs actual repeat
purchases after the calibration end, overall and per calibration-frequency bucket (0, 1, ...,
7+), and the mean absolute error per customer, next to two baselines (each customer keeps their
calibration purchase rate; nobody buys again); with a value column also predicted vs actual
hold-out revenue (BG/NBD purchases times Gamma-Gamma spend, undiscounted).

    python bench/clv_fit.py --transactions ../shared/data/clv/CDNOW_master.txt \\
        --customer-col customer_id --date-col date --value-col dollar_value \\
        --calibration-end 1997-09-30

The published fit (Fader, Hardie & Lee 2005: r 0.243, alpha 4.414, a 0.793, b 2.426) is on the
1/10 sample, which has no header line:

    python bench/clv_fit.py --transactions ../shared/data/clv/CDNOW_sample.txt \\
        --names master_id,customer_id,date,cds,value --customer-col customer_id \\
        --date-col date --value-col value --calibration-end 1997-09-30
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # the project venv has it (editable install); others may not
    sys.path.insert(0, str(REPO_ROOT))

from models.btyd import (  # noqa: E402
    BetaGeoModel,
    GammaGammaModel,
    ParetoNBDModel,
    customer_summary,
)

#: Calibration-frequency buckets of the hold-out table: 0, 1, ..., 6 and 7+.
TOP_BUCKET = 7


def read_transactions(
    path: Path,
    customer_col: str,
    date_col: str,
    sep: str | None,
    names: list[str] | None = None,
) -> pd.DataFrame:
    """Parquet by extension, else delimited text: ``--sep`` if given, whitespace for ``.txt``
    and ``.dat``, tab for ``.tsv``, comma otherwise. Ids and dates are read as text so that
    zero-padded ids and ``YYYYMMDD`` dates survive. ``names`` are the columns of a text file
    without a header line (the CDNOW 1/10 sample has none)."""
    suffix = path.suffix.lower()
    if suffix in {".parquet", ".pq"}:
        return pd.read_parquet(path)
    if sep is None:
        sep = {".txt": r"\s+", ".dat": r"\s+", ".tsv": "\t"}.get(suffix, ",")
    header = {"header": None, "names": names} if names else {}
    return pd.read_csv(path, sep=sep, dtype={customer_col: str, date_col: str}, **header)


def parse_dates(values: pd.Series, date_format: str | None) -> pd.Series:
    """Dates as datetimes; 8-digit text or integers are read as ``YYYYMMDD``."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    if date_format is None:
        text = values.astype(str)
        if text.str.fullmatch(r"\d{8}").all():
            date_format = "%Y%m%d"
        values = text
    return pd.to_datetime(values, format=date_format)


def bucket_labels(frequency: pd.Series) -> pd.Series:
    """``"0"``, ..., ``"6"``, ``"7+"`` for the calibration frequencies."""
    capped = frequency.clip(upper=TOP_BUCKET).astype(int).astype(str)
    return capped.where(frequency < TOP_BUCKET, f"{TOP_BUCKET}+")


def holdout_report(summary: pd.DataFrame, predictions: dict[str, np.ndarray]) -> dict[str, Any]:
    """Predicted vs actual hold-out repeat purchases: totals, per-bucket means, MAE and RMSE
    per customer, for each model and baseline in ``predictions``."""
    actual = summary["frequency_holdout"].to_numpy(dtype=float)
    overall: dict[str, Any] = {"customers": len(summary), "actual": float(actual.sum())}
    errors: dict[str, Any] = {}
    for name, predicted in predictions.items():
        overall[name] = float(predicted.sum())
        errors[name] = {
            "mae": float(np.mean(np.abs(predicted - actual))),
            "rmse": float(np.sqrt(np.mean((predicted - actual) ** 2))),
        }
    frame = pd.DataFrame({"actual": actual, **predictions})
    frame["bucket"] = bucket_labels(summary["frequency"]).to_numpy()
    order = [str(i) for i in range(TOP_BUCKET)] + [f"{TOP_BUCKET}+"]
    buckets = []
    for label in order:
        part = frame[frame["bucket"] == label]
        if part.empty:
            continue
        row: dict[str, Any] = {"calibration_frequency": label, "customers": len(part)}
        row["actual_mean"] = float(part["actual"].mean())
        for name in predictions:
            row[f"{name}_mean"] = float(part[name].mean())
        buckets.append(row)
    return {
        "duration": float(summary["duration_holdout"].iloc[0]),
        "repeat_purchases_total": overall,
        "per_customer_error": errors,
        "by_calibration_frequency": buckets,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transactions", type=Path, required=True, help="CSV/Parquet/text file")
    parser.add_argument("--customer-col", required=True)
    parser.add_argument("--date-col", required=True)
    parser.add_argument("--value-col", default=None, help="order value: fits Gamma-Gamma too")
    parser.add_argument("--calibration-end", default=None, help="last calibration day (incl.)")
    parser.add_argument("--observation-end", default=None, help="last day used (default: last)")
    parser.add_argument("--freq", choices=["W", "D"], default="W", help="time unit")
    parser.add_argument("--sep", default=None, help="column separator regex for text files")
    parser.add_argument(
        "--names", default=None, help="comma-separated column names of a text file with no header"
    )
    parser.add_argument("--date-format", default=None, help="strptime format of the dates")
    parser.add_argument("--penalizer", type=float, default=0.0, help="L2 penalty of all fits")
    parser.add_argument("--no-pareto", action="store_true", help="skip Pareto/NBD")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    names = [n.strip() for n in args.names.split(",")] if args.names else None
    raw = read_transactions(args.transactions, args.customer_col, args.date_col, args.sep, names)
    missing = {args.customer_col, args.date_col, args.value_col} - {None} - set(raw.columns)
    if missing:
        print(f"columns not in {args.transactions}: {sorted(missing)}", file=sys.stderr)
        return 2
    raw[args.date_col] = parse_dates(raw[args.date_col], args.date_format)
    read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    summary = customer_summary(
        raw,
        args.customer_col,
        args.date_col,
        value_col=args.value_col,
        calibration_end=args.calibration_end,
        observation_end=args.observation_end,
        freq=args.freq,
    )
    summary_seconds = time.perf_counter() - started
    x, t_x, age = summary["frequency"], summary["recency"], summary["T"]
    report: dict[str, Any] = {
        "data": {
            "transactions_file": str(args.transactions),
            "transactions": len(raw),
            "customers": len(summary),
            "first_date": str(raw[args.date_col].min().date()),
            "last_date": str(raw[args.date_col].max().date()),
            "calibration_end": args.calibration_end,
            "unit": {"W": "weeks", "D": "days"}[args.freq],
            "repeat_purchase_days": int(x.sum()),
            "customers_with_repeats": int((x > 0).sum()),
            "read_seconds": read_seconds,
            "summary_seconds": summary_seconds,
        },
        "models": {},
    }
    bgnbd = BetaGeoModel(args.penalizer).fit(x, t_x, age)
    report["models"]["bgnbd"] = bgnbd.summary_dict()
    models: dict[str, BetaGeoModel | ParetoNBDModel] = {"bgnbd": bgnbd}
    if not args.no_pareto:
        pareto = ParetoNBDModel(args.penalizer).fit(x, t_x, age)
        report["models"]["pareto_nbd"] = pareto.summary_dict()
        models["pareto_nbd"] = pareto
    gamma_gamma = None
    if args.value_col is not None:
        gamma_gamma = GammaGammaModel(args.penalizer).fit(x, summary["monetary"])
        repeaters = summary[(x > 0) & (summary["monetary"] > 0)]
        report["models"]["gamma_gamma"] = {
            **gamma_gamma.summary_dict(),
            "population_mean_value": gamma_gamma.population_mean_value(),
            # Gamma-Gamma assumes spend per order is independent of frequency: check it
            "corr_frequency_monetary": float(repeaters["frequency"].corr(repeaters["monetary"])),
        }

    if args.calibration_end is not None:
        duration = float(summary["duration_holdout"].iloc[0])
        predictions = {
            name: model.expected_purchases(duration, x, t_x, age) for name, model in models.items()
        }
        rate = np.divide(x, age, out=np.zeros(len(summary)), where=age.to_numpy() > 0)
        predictions["baseline_calibration_rate"] = rate * duration
        predictions["baseline_zero"] = np.zeros(len(summary))
        report["holdout"] = holdout_report(summary, predictions)
        if gamma_gamma is not None:
            spend = gamma_gamma.conditional_expected_value(x, summary["monetary"])
            actual = summary["frequency_holdout"] * summary["monetary_holdout"]
            report["holdout"]["revenue"] = {
                "actual": float(actual.sum()),
                "bgnbd_x_gamma_gamma": float((predictions["bgnbd"] * spend).sum()),
                "mae_per_customer": float(np.mean(np.abs(predictions["bgnbd"] * spend - actual))),
            }

    text = json.dumps(report, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
