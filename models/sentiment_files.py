"""Text files outside the warehouse, for the sentiment family: train its configuration on a
labelled file and judge it on another (``bench/sentiment_eval.py``), or score a file with the
registered champion (``mercato sentiment score``).

**Files.** CSV, TSV, Parquet, JSON lines, or a zip holding one of those (the clothing reviews
ship as a zipped CSV). CSV and Parquet are read as landing reads a batch (UTF-8 checked, a
file cut off mid-line refused), so a bad file gets the same clear message.

**Labels** (:func:`binary_labels`): 0/1, true/false, yes/no or positive/negative (pos/neg) as
they are; star ratings 1-5 by the family's rule (4-5 positive, 1-2 negative, 3 left out); any
other two values with ``positive=`` naming the positive one. Rows with no label or no text are
left out and counted.

**The champion's configuration** is the family's fitting procedure, not its fitted weights:
TF-IDF word uni+bigrams and character 2-5-grams into a logistic regression whose ``C`` is chosen
by log loss on grouped folds (``models.sentiment.fit_text_model``). Folds are grouped by
``group_col`` when the file has one (a product id: no product on both sides of a fold, as in
the family), else every row is its own group.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mercato.settings import Settings

SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".json", ".zip")
_TRUE = frozenset({"1", "1.0", "true", "yes", "positive", "pos"})
_FALSE = frozenset({"0", "0.0", "false", "no", "negative", "neg"})


class TextFileError(ValueError):
    """A file that cannot be used as asked: the message names the file and what is wrong."""


def read_table(path: Path) -> pd.DataFrame:
    """The rows of a CSV, TSV, Parquet or JSON-lines file, or of the one such file in a zip."""
    from warehouse.landing import UnreadableBatch, read_batch

    path = Path(path)
    if not path.is_file():
        raise TextFileError(f"{path}: no such file")
    name, data = path.name, path.read_bytes()
    if path.suffix.lower() == ".zip":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = [m for m in archive.namelist() if not m.endswith("/")]
                if len(members) != 1:
                    raise TextFileError(f"{path}: a zip must hold one file, it holds {members}")
                name, data = members[0], archive.read(members[0])
        except zipfile.BadZipFile as err:
            raise TextFileError(f"{path}: not a readable zip file ({err})") from err
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES or suffix == ".zip":
        raise TextFileError(f"{name}: unsupported file type {suffix!r} (one of {SUFFIXES})")
    try:
        if suffix == ".tsv":
            text = io.BytesIO(data)
            return pd.read_csv(text, sep="\t", dtype=str, keep_default_na=False, na_values=[""])
        if suffix in (".jsonl", ".json"):
            return pd.read_json(io.BytesIO(data), lines=suffix == ".jsonl", dtype=False)
        return read_batch(Path(name), data)
    except UnreadableBatch as err:
        raise TextFileError(str(err)) from err
    except ValueError as err:  # pandas' parsers
        raise TextFileError(f"{name}: not a readable {suffix[1:]} file: {err}") from err


def _column(frame: pd.DataFrame, name: str | None, what: str, path: Path) -> pd.Series | None:
    if name is None:
        return None
    if name not in frame.columns:
        raise TextFileError(
            f"{path.name}: no {what} column {name!r}; its columns are {list(frame.columns)}"
        )
    return frame[name]


def binary_labels(values: pd.Series, positive: str | None = None) -> pd.Series:
    """1.0 / 0.0 / NaN (left out) per row, by the rules of the module docstring."""
    cells = [None if pd.isna(v) or not str(v).strip() else str(v).strip() for v in values]
    lower = [None if v is None else v.lower() for v in cells]
    distinct = sorted({v for v in lower if v is not None})

    def labels(rule: Any) -> pd.Series:
        return pd.Series([np.nan if v is None else rule(v) for v in lower], index=values.index)

    if positive is not None:
        if len(distinct) != 2 or positive.lower() not in distinct:
            raise TextFileError(
                f"--positive {positive!r}: the labels must be two values, one of them that; "
                f"found {distinct[:10]}"
            )
        return labels(lambda v: float(v == positive.lower()))
    if set(distinct) <= _TRUE | _FALSE:
        return labels(lambda v: 1.0 if v in _TRUE else 0.0)
    stars = pd.to_numeric(pd.Series([v for v in lower if v is not None]), errors="coerce")
    if len(stars) and stars.notna().all() and stars.between(1, 5).all() and (stars % 1 == 0).all():
        return labels(lambda v: 1.0 if float(v) >= 4 else 0.0 if float(v) <= 2 else np.nan)
    raise TextFileError(
        f"labels {distinct[:10]} are neither 0/1, true/false, positive/negative nor star "
        "ratings 1-5: name the positive value with --positive"
    )


def labelled_texts(
    path: Path,
    text_col: str = "text",
    label_col: str = "label",
    title_col: str | None = None,
    group_col: str | None = None,
    positive: str | None = None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """(frame of ``text``, ``title``, ``group``, ``label`` 0/1, what was left out and why)."""
    from models.text_mining import model_texts

    frame = read_table(path)
    texts = _column(frame, text_col, "text", path)
    labels = _column(frame, label_col, "label", path)
    titles = _column(frame, title_col, "title", path)
    groups = _column(frame, group_col, "group", path)
    label = binary_labels(labels, positive)  # type: ignore[arg-type]
    text = texts.astype("string").fillna("")  # type: ignore[union-attr]
    blank = text.str.strip() == ""
    keep = label.notna() & ~blank
    out = pd.DataFrame(
        {
            "text": model_texts(list(text[keep]), None if titles is None else list(titles[keep])),
            "group": (pd.Series(np.arange(len(frame))) if groups is None else groups)[keep]
            .astype(str)
            .to_numpy(),
            "label": label[keep].astype(int).to_numpy(),
        }
    )
    dropped = {"no_label_or_neutral": int(label.isna().sum()), "empty_text": int(blank.sum())}
    return out, dropped


def train_and_score(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, Any]:
    """The family's configuration fitted on ``train``, its figures on ``test``."""
    from models.sentiment import SentimentModel, fit_text_model, probability_metrics

    for part, frame in (("training", train), ("test", test)):
        if frame["label"].nunique() < 2:
            raise TextFileError(
                f"the {part} file's {len(frame)} usable rows are not both positive and negative"
            )
    start = time.perf_counter()
    pipeline, c, losses = fit_text_model(list(train["text"]), train["label"], train["group"])
    fit_seconds = time.perf_counter() - start
    model = SentimentModel(pipeline, {}, info={"C": c})
    p = model.predict_proba_many(list(test["text"]))
    metrics = probability_metrics(test["label"].to_numpy(), p)
    return {
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "roc_auc": metrics["roc_auc"],
        "ece": metrics["ece"],
        "n_train": len(train),
        "n_test": len(test),
        "test_positive_rate": metrics["positive_rate"],
        "C": c,
        "cv_log_loss": {str(k): round(v, 4) for k, v in losses.items()},
        "fit_seconds": round(fit_seconds, 2),
    }


def score_table(
    model: Any, frame: pd.DataFrame, text_col: str, title_col: str | None = None, k: int = 0
) -> pd.DataFrame:
    """``frame`` with ``probability_positive``, ``label`` and (``k`` > 0) the driving terms."""
    texts = frame[text_col].astype("string").fillna("").tolist()
    titles: Sequence[Any] | None = None if title_col is None else list(frame[title_col])
    p = model.predict_proba_many(texts, titles)
    out = frame.copy()
    out["probability_positive"] = p
    out["label"] = [model.label(float(v)) for v in p]
    if k:
        drivers = model.explain_many(texts, titles, k=k)
        for side in ("positive", "negative"):
            out[f"{side}_terms"] = ["; ".join(f"{t} {w:+.3f}" for t, w in d[side]) for d in drivers]
    return out


def score_file(
    settings: Settings,
    path: Path,
    out: Path,
    text_col: str = "text",
    title_col: str | None = None,
    terms: int = 0,
) -> dict[str, Any]:
    """Score every row of ``path`` with the registered sentiment champion, written to ``out``
    (CSV, or Parquet by its suffix). ``LookupError`` when there is no champion to score with."""
    from models import registry
    from models.sentiment import MODEL_NAME

    frame = read_table(path)
    _column(frame, text_col, "text", path)
    _column(frame, title_col, "title", path)
    if registry.champion_version(settings, MODEL_NAME) is None:
        raise LookupError(
            f"{MODEL_NAME} has no champion to score with: run `mercato train sentiment` "
            "on a warehouse with reviews first"
        )
    model, version = registry.load_champion(settings, MODEL_NAME)
    scored = score_table(model, frame, text_col, title_col, terms)
    blank = scored[text_col].astype("string").fillna("").str.strip() == ""
    scored.loc[blank, ["probability_positive", "label"]] = [np.nan, None]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() in (".parquet", ".pq"):
        scored.to_parquet(out, index=False)
    else:
        scored.to_csv(out, index=False)
    return {
        "model": MODEL_NAME,
        "version": version,
        "rows": len(scored),
        "scored": int((~blank).sum()),
        "empty_text": int(blank.sum()),
        "positive": int((scored["label"] == "positive").sum()),
        "out": str(out),
    }
