"""Train the intent family's configuration on a labelled support file and judge it on another.

Prints one JSON object: the served model's intent accuracy and macro-F1 on the test file, its
unsure threshold (tuned on the test file, as the family tunes it on its hold-out), the unsure
rate there and the accuracy on the answered part, the calibration error of the top
probability, and the same figures for the baselines side by side (scikit-learn's naive Bayes,
the keyword rule, the majority class), with the fit time and the time to classify one message.
Columns are read as the support source reads them (``instruction`` or ``text``, ``intent``).

    python bench/assistant_eval.py --train train.csv --test test.csv
    python bench/assistant_eval.py --data support.csv   # the family's own stratified split
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from models.intent import HOLDOUT_SHARE, compare, frequent_intents, stratified_split
from warehouse.sources.support import SOURCE


def read_messages(path: Path) -> pd.DataFrame:
    """A labelled message file (CSV or Parquet) with ``text`` and ``intent`` columns."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, keep_default_na=False, dtype=str)
    frame = SOURCE.map_columns(frame)
    missing = [c for c in ("text", "intent") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: no {' or '.join(missing)} column (columns: {list(frame)})")
    frame = frame[(frame["text"].astype(str).str.strip() != "") & (frame["intent"] != "")]
    if "category" not in frame.columns:
        frame = frame.assign(category="")
    return frame[["text", "intent", "category"]].reset_index(drop=True)


def evaluate(train: pd.DataFrame, test: pd.DataFrame) -> dict:
    """The figures of the module docstring."""
    started = time.perf_counter()
    result = compare(train, test)
    fit_seconds = time.perf_counter() - started
    model = result["model"]
    texts = list(test["text"].head(300))
    model.classify(texts[0])
    started = time.perf_counter()
    for text in texts:
        model.classify(text)
    per_message_ms = (time.perf_counter() - started) / len(texts) * 1000
    ours = result["hold_out"]["tfidf_logistic"]
    return {
        "intent_accuracy": ours["accuracy"],
        "intent_macro_f1": ours["macro_f1"],
        "threshold": result["threshold"],
        "unsure_rate": ours["unsure_rate"],
        "answered_accuracy": ours["answered_accuracy"],
        "n_train": len(train),
        "n_test": len(test),
        "n_intents": int(train["intent"].nunique()),
        "fit_seconds": round(fit_seconds, 2),
        "classify_ms_per_message": round(per_message_ms, 3),
        "side_by_side": result["hold_out"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=Path, help="labelled training file")
    parser.add_argument("--test", type=Path, help="labelled test file")
    parser.add_argument("--data", type=Path, help="one file, split as the family splits it")
    parser.add_argument("--seed", type=int, default=42, help="split seed (with --data)")
    args = parser.parse_args(argv)
    try:
        if args.data:
            train, test = stratified_split(
                frequent_intents(read_messages(args.data)), HOLDOUT_SHARE, args.seed
            )
        elif args.train and args.test:
            train, test = read_messages(args.train), read_messages(args.test)
            unseen = sorted(set(test["intent"]) - set(train["intent"]))
            if unseen:
                raise ValueError(f"test intents never seen in training: {unseen[:10]}")
        else:
            raise ValueError("give --train and --test, or --data")
        result = evaluate(train, test)
    except ValueError as err:
        print(f"assistant_eval: error: {err}", file=sys.stderr)
        return 2
    print(
        json.dumps(
            {"train": str(args.train or args.data), "test": str(args.test), **result}, indent=2
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
