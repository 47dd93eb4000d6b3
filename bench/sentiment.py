"""Review sentiment models side by side on the real clothing reviews' product-grouped hold-out.

Takes the reviews the family trains on: mart ``review_facts`` of a warehouse, read by
``models.sentiment.build_sentiment_data`` (the cleaning lives in ``dbt_project/`` only). The
bench extracts the Women's E-Commerce Clothing Reviews zip (``--data``, default the shared copy)
to a CSV, ingests it through the reviews source into a temporary data folder and builds the
review models (``stg_reviews+``, ~15 s); ``--home DIR`` reads a data folder where that has run.

The split is the family's: every product's reviews on one side (20% of products held out by a
stable hash), 3-star reviews left out of training and scoring. Reported for each model:
ROC-AUC, PR-AUC of the negative class, macro-F1, accuracy and balanced accuracy at 0.5, Brier,
log loss, ECE (10 bins), the 3-star reviews' mean probability, fit and scoring time, and the
served model's single-text latency (with and without its driving terms) and pickled size.
Models:

- majority class, and a lexicon (VADER when ``vaderSentiment`` is installed, and the family's
  own small lexicon), each made a probability by isotonic regression on the training part;
- complement naive Bayes on word counts (a well-known text classifier);
- TF-IDF word uni+bigrams into logistic regression, reading the text alone and "title. text";
- the family's model: TF-IDF words + characters 2-5 into logistic regression (C by grouped
  CV), reading "title. text"; and the same recalibrated by isotonic regression on grouped
  folds (to see whether calibration needs more than the logistic loss);
- sentence embeddings are not measured: the one model shipped inside a PyPI package needs
  torch, which the lock does not carry.

    python bench/sentiment.py
    python bench/sentiment.py --home .mercato --out .mercato/bench/sentiment
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pickle
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mercato.settings import REPO_ROOT, apply_runtime_env, get_settings
from models import sentiment as s
from models.text_mining import model_texts

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "reviews"
DEFAULT_DATA = DEFAULT_DATA / "womens_clothing_ecommerce_reviews.csv.zip"
COLUMNS = [
    "roc_auc",
    "pr_auc_negative",
    "macro_f1",
    "accuracy",
    "balanced_accuracy",
    "brier",
    "log_loss",
    "ece",
]


def warehouse_reviews(home: Path | None, data: Path) -> pd.DataFrame:
    """``build_sentiment_data`` of ``home``, or of a temporary folder where ``data`` is loaded."""
    from pipeline import stages
    from warehouse import landing

    def with_reviews(settings: Any) -> Any:
        from mercato.names import source_modules

        if "reviews" in source_modules(settings):
            return settings
        extra = {**settings.extra_sources, "reviews": "warehouse.sources.reviews"}
        return dataclasses.replace(settings, extra_sources=extra)

    if home is not None:
        settings = dataclasses.replace(get_settings(), home=home.expanduser().resolve())
        return s.build_sentiment_data(settings)
    with tempfile.TemporaryDirectory(prefix="mercato-bench-") as tmp:
        settings = with_reviews(
            dataclasses.replace(get_settings(), home=Path(tmp) / "home", mlflow_tracking_uri="")
        )
        settings.ensure_dirs()
        csv = Path(tmp) / "reviews.csv"
        if data.suffix == ".zip":
            with zipfile.ZipFile(data) as archive:
                csv.write_bytes(archive.read(archive.namelist()[0]))
        else:
            csv = data
        print(f"ingesting {data} and building the review marts ...", flush=True)
        landing.ensure_raw_tables(settings)
        stages.ingest(settings, csv)
        stages.transform(settings, select="stg_reviews+")
        return s.build_sentiment_data(settings)


class Sklearn:
    """A fitted scikit-learn text pipeline behind the family's ``predict_proba_many``."""

    def __init__(self, pipeline: Any, titles: bool) -> None:
        self.pipeline, self.titles = pipeline, titles

    def predict_proba_many(self, texts: Any, titles: Any = None) -> np.ndarray:
        return self.pipeline.predict_proba(model_texts(texts, titles if self.titles else None))[
            :, 1
        ]


def word_logistic(c: float = 10.0) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
        LogisticRegression(C=c, max_iter=3000),
    )


def complement_nb() -> Any:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.naive_bayes import ComplementNB
    from sklearn.pipeline import make_pipeline

    return make_pipeline(CountVectorizer(ngram_range=(1, 2), min_df=2), ComplementNB(alpha=0.5))


def isotonic_family(train: pd.DataFrame, c: float) -> Any:
    """The family's features and C, recalibrated by isotonic regression on product folds."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline

    texts, y = model_texts(train["text"], train["title"]), train["is_positive"].to_numpy()
    folds = list(GroupKFold(n_splits=3).split(texts, y, train["product_id"].astype(str)))
    model = CalibratedClassifierCV(
        make_pipeline(s.build_vectorizer(), LogisticRegression(C=c, max_iter=3000)),
        method="isotonic",
        cv=folds,
    )
    return model.fit(texts, y)


def timed(fit: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    model = fit()
    return model, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--home", type=Path, help="a data folder with the review marts built")
    parser.add_argument("--out", type=Path, help="write sentiment.md and sentiment.json here")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    apply_runtime_env()
    if args.home is None and not args.data.is_file():
        raise SystemExit(f"no reviews at {args.data}")

    data = warehouse_reviews(args.home, args.data)
    settings = dataclasses.replace(get_settings(), seed=args.seed)
    split = s.FAMILY.split(data, settings)
    train, holdout = s.labelled(split.train), split.holdout
    texts, y = model_texts(train["text"], train["title"]), train["is_positive"].to_numpy()
    bare = list(train["text"])
    print(
        f"{len(data):,} reviews of {data['product_id'].nunique():,} products; training "
        f"{len(train):,} labelled reviews of {train['product_id'].nunique():,} products, "
        f"hold-out {split.info['n_holdout_reviews']:,} of "
        f"{split.info['n_holdout_products']:,} products",
        flush=True,
    )

    fitted: dict[str, tuple[Any, float]] = {}
    fitted["majority class"] = timed(lambda: s.MajorityBaseline(y))
    fitted["lexicon: ours (simple_lexicon)"] = timed(
        lambda: s.LexiconBaseline(texts, y, s.SimpleLexicon())
    )
    try:
        vader = s.VaderLexicon()
    except ImportError:
        print("vaderSentiment is not installed: VADER left out", flush=True)
    else:
        fitted["lexicon: VADER (vaderSentiment 3.3.2)"] = timed(
            lambda: s.LexiconBaseline(texts, y, vader)
        )
    fitted["complement naive Bayes, words 1-2, title. text"] = timed(
        lambda: Sklearn(complement_nb().fit(texts, y), True)
    )
    fitted["TF-IDF words 1-2 + LR, text only"] = timed(
        lambda: Sklearn(word_logistic().fit(bare, y), False)
    )
    fitted["TF-IDF words 1-2 + LR, title. text"] = timed(
        lambda: Sklearn(word_logistic().fit(texts, y), True)
    )
    (pipeline, c, losses), seconds = timed(
        lambda: s.fit_text_model(texts, y, train["product_id"].astype(str))
    )
    served = s.SentimentModel(pipeline, {})
    name = f"**family: TF-IDF words + chars 2-5 + LR (C={c:g} by grouped CV), title. text**"
    fitted[name] = (served, seconds)
    fitted[f"family features + LR C={c:g}, isotonic on grouped folds"] = timed(
        lambda: Sklearn(isotonic_family(train, c), True)
    )

    rows = []
    for label, (model, fit_seconds) in fitted.items():
        start = time.perf_counter()
        metrics = s.holdout_metrics(model, holdout)
        rows.append(
            {
                "model": label,
                **{k: metrics.get(k) for k in COLUMNS},
                "neutral_mean_p": metrics.get("neutral_mean_probability"),
                "fit_s": fit_seconds,
                "score_s": time.perf_counter() - start,
            }
        )
        print(f"  {label}: ROC-AUC {metrics.get('roc_auc', float('nan')):.4f}", flush=True)

    text = "This dress runs small and the fabric is itchy, sadly going back."
    start = time.perf_counter()
    for _ in range(500):
        served.predict_proba(text)
    latency_ms = (time.perf_counter() - start) / 500 * 1000
    start = time.perf_counter()
    for _ in range(200):
        served.predict_proba(text)
        served.explain_many([text], k=5)
    explained_ms = (time.perf_counter() - start) / 200 * 1000
    size_mb = len(pickle.dumps(served)) / 1e6

    table = pd.DataFrame(rows)
    header = "| model | " + " | ".join(COLUMNS) + " | 3-star mean p | fit (s) | score (s) |"
    lines = [header, "|---|" + "---:|" * (len(COLUMNS) + 3)]
    for row in rows:
        cells = [f"{row[k]:.4f}" if row[k] is not None else "" for k in COLUMNS]
        neutral = row["neutral_mean_p"]
        lines.append(
            f"| {row['model']} | "
            + " | ".join(cells)
            + f" | {'' if neutral is None else f'{neutral:.3f}'} | {row['fit_s']:.1f}"
            f" | {row['score_s']:.1f} |"
        )
    lines.append("")
    cv = {str(k): round(v, 4) for k, v in losses.items()}
    lines.append(
        f"Served model: C={c:g} (grouped-CV log loss {cv}), one text {latency_ms:.2f} ms "
        f"({explained_ms:.2f} ms with its 5+5 driving terms), pickled {size_mb:.1f} MB."
    )
    print("\n".join(lines))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "sentiment.md").write_text("\n".join(lines) + "\n")
        (args.out / "sentiment.json").write_text(
            json.dumps({"rows": table.to_dict(orient="records"), "info": split.info}, default=str)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
