"""``bench/sentiment_eval.py`` (the champion's configuration trained on any labelled file) and
``mercato sentiment score`` without a champion. Scoring with a champion is tested beside the
trained family in ``test_sentiment.py``.

The labelled files are synthetic reviews (text whose sentiment follows the rating), split by
product into a training and a test file, in the column names an outside export would use.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
from fixed_dates import END_DATE

from mercato.settings import REPO_ROOT, get_settings

SCRIPT = REPO_ROOT / "bench" / "sentiment_eval.py"


def _bench():
    spec = importlib.util.spec_from_file_location("sentiment_eval", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(train.csv, test.parquet) of synthetic reviews, no product in both."""
    from warehouse.synthetic import generate_orders
    from warehouse.synthetic_reviews import generate_reviews

    orders = generate_orders(end_date=END_DATE, n_customers=150, n_products=80, days=150, seed=5)
    reviews = generate_reviews(end_date=END_DATE, orders=orders, seed=5, review_rate=0.5)
    reviews = reviews[reviews["text"].str.strip() != ""].drop_duplicates("review_id")
    frame = reviews.rename(columns={"text": "Review Text", "rating": "Stars"})
    products = sorted(frame["product_id"].unique())
    held = set(products[::4])
    root = tmp_path_factory.mktemp("sentiment-files")
    train, test = root / "train.csv", root / "test.parquet"
    frame[~frame["product_id"].isin(held)].to_csv(train, index=False)
    frame[frame["product_id"].isin(held)].to_parquet(test, index=False)
    return train, test


def test_the_bench_trains_on_one_file_and_reports_on_another(files, capsys) -> None:
    train, test = files
    argv = ["--train", str(train), "--test", str(test), "--text-col", "Review Text"]
    argv += ["--label-col", "Stars", "--group-col", "product_id"]
    assert _bench().main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"accuracy", "macro_f1", "roc_auc", "n_train", "n_test", "C"} <= set(result)
    assert result["roc_auc"] > 0.85 and result["macro_f1"] > 0.6
    # 3-star reviews are left out of both files, and counted
    test_frame = pd.read_parquet(test)
    neutral = int((test_frame["Stars"] == 3).sum())
    assert result["n_test"] == len(test_frame) - neutral
    assert result["left_out"]["test"]["no_label_or_neutral"] == neutral


def test_binary_labels_of_another_spelling_need_the_positive_value(files, tmp_path, capsys):
    train, test = files
    frame = pd.read_csv(train)
    frame["verdict"] = frame["Stars"].map(lambda r: "good" if r >= 4 else "bad")
    relabelled = tmp_path / "verdict.tsv"
    frame.to_csv(relabelled, sep="\t", index=False)
    argv = ["--train", str(relabelled), "--test", str(relabelled), "--text-col", "Review Text"]
    assert _bench().main([*argv, "--label-col", "verdict"]) == 2
    assert "--positive" in capsys.readouterr().err
    assert _bench().main([*argv, "--label-col", "verdict", "--positive", "good"]) == 0
    assert json.loads(capsys.readouterr().out)["n_train"] == len(frame)


def test_a_missing_column_is_named_with_the_columns_there_are(files, capsys) -> None:
    train, test = files
    assert _bench().main(["--train", str(train), "--test", str(test)]) == 2
    err = capsys.readouterr().err
    assert "'text'" in err and "Review Text" in err


def test_scoring_a_file_without_a_champion_says_so(
    files, tmp_path: Path, monkeypatch, capsys
) -> None:
    from pipeline.cli import main

    settings = dataclasses.replace(get_settings(), home=tmp_path / "home", mlflow_tracking_uri="")
    for key, value in settings.to_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.tracking_uri)
    out = tmp_path / "scored.csv"
    train, _ = files
    argv = ["sentiment", "score", str(train), "--text-col", "Review Text", "--out", str(out)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "no champion" in err and "mercato train sentiment" in err
    assert not out.exists()
