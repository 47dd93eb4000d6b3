"""Train the sentiment champion's configuration on any labelled text file and judge it on another.

Prints one JSON object: accuracy and macro-F1 at the 0.5 threshold, ROC-AUC, calibration error
(ECE, 10 bins), the rows used and left out, the ``C`` chosen and the fit time. The configuration
is the family's fitting procedure (``models.sentiment.fit_text_model``: TF-IDF words 1-2 and
characters 2-5 into a logistic regression, ``C`` by grouped cross-validation); labels may be
0/1, true/false, positive/negative, star ratings 1-5 (4-5 positive, 1-2 negative, 3 left out)
or two values with ``--positive`` naming one (``models.sentiment_files``).

    python bench/sentiment_eval.py --train train.csv --test test.csv
    python bench/sentiment_eval.py --train a.parquet --test b.parquet \\
        --text-col "Review Text" --label-col Rating --title-col Title --group-col "Clothing ID"
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mercato.settings import apply_runtime_env
from models.sentiment_files import TextFileError, labelled_texts, train_and_score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=Path, required=True, help="labelled training file")
    parser.add_argument("--test", type=Path, required=True, help="labelled test file")
    parser.add_argument("--text-col", default="text", help="the text column (default: text)")
    parser.add_argument("--label-col", default="label", help="the label column (default: label)")
    parser.add_argument("--title-col", help="a title column, read as 'title. text'")
    parser.add_argument("--group-col", help="rows of one group stay in one CV fold (a product)")
    parser.add_argument("--positive", help="the positive value, for labels of another form")
    args = parser.parse_args(argv)
    apply_runtime_env()
    columns = {
        "text_col": args.text_col,
        "label_col": args.label_col,
        "title_col": args.title_col,
        "group_col": args.group_col,
        "positive": args.positive,
    }
    try:
        train, train_dropped = labelled_texts(args.train, **columns)
        test, test_dropped = labelled_texts(args.test, **columns)
        result = train_and_score(train, test)
    except TextFileError as err:
        print(f"sentiment_eval: error: {err}", file=sys.stderr)
        return 2
    result = {
        "train": str(args.train),
        "test": str(args.test),
        **result,
        "left_out": {"train": train_dropped, "test": test_dropped},
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
