"""Click-through models on outside data: log loss and ROC-AUC of each, as JSON.

    .venv/bin/python bench/ctr_eval.py --train FILE --test FILE --label-col L [--format criteo]

``--format criteo``: the tab-separated Criteo display-ads layout with no header: the label,
13 integer features (``I1``..``I13``, may be empty), 26 hashed categoricals (``C1``..``C26``).
``--format csv`` (default): any CSV with a header and a label column (``--label-col``); numeric
columns are integer-like features, the others categoricals.

The models are the ad response family's (``models.ad_response``): the hashed logistic
regression (integers bucketed by ``floor(log(x)^2)``, the classic trick of the Criteo
winners, then every ``column=value`` token hashed; negatives down-sampled and corrected),
``HistGradientBoostingClassifier`` on the integers plus frequency-coded categoricals, and the
base rate (the log loss of knowing nothing).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

CRITEO_COLUMNS = ["label", *(f"I{i}" for i in range(1, 14)), *(f"C{i}" for i in range(1, 27))]


def read(path: Path, fmt: str, label: str) -> tuple[pd.DataFrame, np.ndarray]:
    """(features, labels 0/1) of one file."""
    if fmt == "criteo":
        frame = pd.read_csv(path, sep="\t", header=None, names=CRITEO_COLUMNS, dtype=str)
        label = "label"
    else:
        frame = pd.read_csv(path, dtype=str)
    if label not in frame.columns:
        raise SystemExit(f"{path}: no label column {label!r} (columns: {list(frame.columns)})")
    y = pd.to_numeric(frame.pop(label), errors="coerce")
    if y.isna().any() or not set(y.unique()) <= {0, 1}:
        raise SystemExit(f"{path}: the label column {label!r} must be 0 or 1 on every row")
    return frame, y.astype(int).to_numpy()


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    """Columns whose filled values all parse as numbers (Criteo's I1..I13)."""
    out = []
    for column in frame.columns:
        values = frame[column].dropna()
        if len(values) and pd.to_numeric(values, errors="coerce").notna().all():
            out.append(column)
    return out


def _bucket(value: str | float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "missing"
    x = float(value)
    return str(int(math.floor(math.log(x) ** 2))) if x > 2 else str(int(x))


def tokens(frame: pd.DataFrame, numeric: list[str]) -> list[list[str]]:
    records = frame.to_dict("records")
    return [
        [
            f"{c}={_bucket(v) if c in numeric else ('missing' if pd.isna(v) else v)}"
            for c, v in r.items()
        ]
        for r in records
    ]


def boosting_matrix(frame: pd.DataFrame, numeric: list[str], counts: dict) -> np.ndarray:
    columns = [pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float) for c in numeric]
    columns += [
        frame[c].map(counts[c]).fillna(0).to_numpy(dtype=float)
        for c in frame.columns
        if c not in numeric
    ]
    return np.column_stack(columns)


def evaluate(train: Path, test: Path, label: str, fmt: str, seed: int = 0) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import log_loss, roc_auc_score

    from models.ad_response import fit_hashed_logistic

    x_train, y_train = read(train, fmt, label)
    x_test, y_test = read(test, fmt, label)
    x_test = x_test.reindex(columns=x_train.columns)
    numeric = numeric_columns(x_train)

    def scores(p: np.ndarray) -> dict[str, float]:
        p = np.clip(p, 1e-7, 1 - 1e-7)
        out = {"log_loss": float(log_loss(y_test, p, labels=[0, 1]))}
        out["roc_auc"] = float(roc_auc_score(y_test, p)) if len(set(y_test)) == 2 else None
        return out

    results: dict[str, dict] = {}
    base = float(y_train.mean())
    results["base_rate"] = scores(np.full(len(y_test), base))
    tick = time.perf_counter()
    head, rate = fit_hashed_logistic(tokens(x_train, numeric), y_train, seed, n_features=2**20)
    p = head.predict(tokens(x_test, numeric))
    results["hashed_logistic"] = {
        **scores(p),
        "fit_seconds": round(time.perf_counter() - tick, 2),
        "negative_rate": rate,
    }
    tick = time.perf_counter()
    counts = {c: x_train[c].value_counts().to_dict() for c in x_train.columns if c not in numeric}
    hgb = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, random_state=seed)
    hgb.fit(boosting_matrix(x_train, numeric, counts), y_train)
    p = hgb.predict_proba(boosting_matrix(x_test, numeric, counts))[:, 1]
    results["hist_gradient_boosting"] = {
        **scores(p),
        "fit_seconds": round(time.perf_counter() - tick, 2),
    }
    return {
        "train": str(train),
        "test": str(test),
        "format": fmt,
        "n_train": int(len(y_train)),
        "n_test": int(len(y_test)),
        "train_positive_rate": base,
        "models": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--label-col", default="label", help="label column (csv format)")
    parser.add_argument("--format", choices=("csv", "criteo"), default="csv")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for path in (args.train, args.test):
        if not path.is_file():
            parser.error(f"no file at {path}")
    result = evaluate(args.train, args.test, args.label_col, args.format, args.seed)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
