"""Support intent: which of the shop's support intents a customer's message is, and how sure.

**Data.** Mart ``support_messages`` (the support source): each message's text and the intent
it was labelled with (27 intents in 11 categories in the Bitext sample and in
``warehouse.synthetic_support``). Intents with fewer than ``MIN_PER_INTENT`` messages are left
out (too few to learn or to judge).

**Hold-out.** A seeded, stratified ``HOLDOUT_SHARE`` of the messages: the Bitext file has no
time or customer, so a random split stratified on the intent is the fair one there.

**Models, side by side on that hold-out** (``bench/assistant_eval.py`` prints the figures):

- the served model: the sentiment family's text stack (``models.sentiment.build_vectorizer``:
  sublinear TF-IDF of word uni- and bigrams and of character 2-5-grams, which keep a misspelt
  word close to its spelling) into a multinomial logistic regression. Unweighted logistic
  regression minimises log loss, so its probabilities are calibrated; the expected calibration
  error of the top probability is logged every run;
- the library baseline: scikit-learn's multinomial naive Bayes on word uni- and bigram counts,
  the textbook text classifier;
- the keyword rule: each intent's ``KEYWORDS_PER_INTENT`` most telling training words (highest
  share of their uses in that intent, seen ``MIN_KEYWORD_COUNT`` times or more); a message takes
  the intent with the most keyword hits (ties and no hit: the most frequent intent). Its
  accuracy is the floor the served model must beat;
- the majority class: the accuracy of knowing nothing.

**Unsure.** The assistant hands a message over to a person rather than act on a wrong guess.
The served model answers only when its top probability reaches ``threshold``, chosen on the
hold-out among ``THRESHOLD_GRID`` to minimise ``WRONG_ANSWER_COST`` x wrong answers + 1 x
hand-overs (a wrong answer costs four hand-overs), never below ``MIN_THRESHOLD``. The unsure
rate and the accuracy on the answered part are logged and gated figures.

The gate compares models on accuracy, resampling messages (``models.gate.mean_evidence``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from mercato.settings import Settings
from models.family import Fitted, ModelFamily, Split
from models.gate import Evidence, mean_evidence

MODEL_NAME = "mercato_intent"
EXPERIMENT = "mercato_intent"
PRIMARY_METRIC = "accuracy"
#: Below this accuracy the assistant would misroute too many requests to be worth serving.
MINIMUM_ACCURACY = 0.6
#: Accuracy of a guess among the Bitext sample's 27 near-balanced intents (largest share 4.5%).
CHANCE_ACCURACY = 0.05
HOLDOUT_SHARE = 0.25
MIN_PER_INTENT = 4
MIN_MESSAGES = 50
LOGISTIC_C = 16.0
NB_ALPHA = 0.1
KEYWORDS_PER_INTENT = 5
MIN_KEYWORD_COUNT = 2
THRESHOLD_GRID = tuple(round(t, 2) for t in np.arange(0.2, 0.951, 0.05))
MIN_THRESHOLD = 0.35
WRONG_ANSWER_COST = 4.0
_WORDS = re.compile(r"[a-z][a-z']+")


# -- data ------------------------------------------------------------------------------------
def load_messages(settings: Settings) -> pd.DataFrame:
    """Every labelled message of mart ``support_messages``, in id order."""
    from warehouse import reader

    return reader.query(
        settings,
        "select message_id, text, intent, category from main.support_messages "
        "where text is not null and intent is not null order by message_id",
    )


def frequent_intents(data: pd.DataFrame, minimum: int = MIN_PER_INTENT) -> pd.DataFrame:
    """The messages of intents with at least ``minimum`` messages."""
    counts = data["intent"].value_counts()
    return data[data["intent"].isin(counts[counts >= minimum].index)].reset_index(drop=True)


def stratified_split(
    data: pd.DataFrame, share: float = HOLDOUT_SHARE, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, hold-out): a seeded random ``share`` of the messages, stratified on the intent."""
    from sklearn.model_selection import train_test_split

    if data["intent"].nunique() < 2:
        raise ValueError(
            f"the intent family needs at least two intents with {MIN_PER_INTENT}+ messages "
            f"each; the support messages have {data['intent'].nunique()}"
        )
    train, test = train_test_split(
        data, test_size=share, stratify=data["intent"], random_state=seed
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


# -- models ----------------------------------------------------------------------------------
def fit_pipeline(texts: Sequence[str], intents: Sequence[str], c: float = LOGISTIC_C) -> Any:
    """TF-IDF words + characters (the sentiment stack) into multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from threadpoolctl import threadpool_limits

    from models.sentiment import build_vectorizer

    pipeline = Pipeline(
        [("features", build_vectorizer()), ("classifier", LogisticRegression(C=c, max_iter=3000))]
    )
    # one BLAS thread: on two shared cores, threads fighting made the fit 13x slower
    with threadpool_limits(1):
        return pipeline.fit(list(texts), list(intents))


class IntentModel(PythonModel):
    """The served model: a message's intent, its probability, and whether to answer at all."""

    def __init__(
        self,
        pipeline: Any,
        threshold: float,
        categories: Mapping[str, str],
        info: Mapping[str, Any] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.classes = np.asarray(pipeline.classes_).astype(str)
        self.threshold = float(threshold)
        self.categories = {str(k): str(v) for k, v in categories.items()}
        self.info = dict(info or {})
        self.algorithm = "tfidf_words_chars_logistic_regression"

    @property
    def intents(self) -> list[str]:
        return list(self.classes)

    def __getstate__(self) -> dict[str, Any]:
        """What is pickled: everything but the fast path, rebuilt from the pipeline when used."""
        return {k: v for k, v in self.__dict__.items() if k != "_fast"}

    def predict_proba_many(self, texts: Sequence[str]) -> np.ndarray:
        """(n, intents) probabilities, columns in ``classes`` order."""
        if len(texts) == 0:
            return np.empty((0, len(self.classes)))
        return self.pipeline.predict_proba([str(t) for t in texts])

    def predict_proba_one(self, text: str) -> np.ndarray:
        """One text's probabilities, the pipeline's arithmetic without its per-call overhead.

        scikit-learn's ``FeatureUnion.transform`` costs about 5 ms a call in validation and
        stacking, most of a request's budget; the same sublinear TF-IDF with l2 norm per
        vectorizer, dotted with the coefficients and soft-maxed, takes a tenth of it. It equals
        ``predict_proba_many`` to 1e-9 (tests/unit/test_intent_model.py).
        """
        fast = self.__dict__.get("_fast")
        if fast is None:
            fast = self.__dict__["_fast"] = FastScorer(self.pipeline)
        return fast.proba(str(text))

    def predict_many(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(top intent, its probability) of each text."""
        p = self.predict_proba_many(texts)
        top = p.argmax(axis=1) if len(p) else np.empty(0, dtype=int)
        return self.classes[top], p[np.arange(len(p)), top]

    def classify(self, text: str, k: int = 3) -> dict[str, Any]:
        """One message: its intent, probability, category, ``unsure`` and the ``k`` best."""
        p = self.predict_proba_one(text)
        order = np.argsort(-p)[:k]
        intent = str(self.classes[order[0]])
        return {
            "intent": intent,
            "probability": float(p[order[0]]),
            "category": self.categories.get(intent),
            "unsure": bool(p[order[0]] < self.threshold),
            "alternatives": [(str(self.classes[i]), float(p[i])) for i in order],
        }

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None):
        """Batch pyfunc: ``text`` column in; intent, probability and unsure out."""
        intents, p = self.predict_many(list(model_input["text"].astype(str)))
        return pd.DataFrame({"intent": intents, "probability": p, "unsure": p < self.threshold})


class FastScorer:
    """A fitted TF-IDF FeatureUnion + logistic regression pipeline's arithmetic for one text
    (see ``IntentModel.predict_proba_one``); the assistant scores the sentiment champion's
    pipeline, the same stack, with it too."""

    def __init__(self, pipeline: Any) -> None:
        union = pipeline.named_steps["features"]
        classifier = pipeline.named_steps["classifier"]
        weights = union.transformer_weights or {}
        coef = np.asarray(classifier.coef_, dtype=np.float64)
        self.intercept = np.asarray(classifier.intercept_, dtype=np.float64)
        self.blocks = []
        start = 0
        for name, vectorizer in union.transformer_list:
            width = len(vectorizer.vocabulary_)
            block = coef[:, start : start + width].T * float(weights.get(name, 1.0))
            start += width
            self.blocks.append(
                (
                    vectorizer.build_analyzer(),
                    vectorizer.vocabulary_,
                    np.asarray(vectorizer.idf_, dtype=np.float64),
                    bool(vectorizer.sublinear_tf),
                    np.ascontiguousarray(block),
                )
            )

    def proba(self, text: str) -> np.ndarray:
        scores = self.intercept.copy()
        for analyzer, vocabulary, idf, sublinear, block in self.blocks:
            counts = Counter(j for j in map(vocabulary.get, analyzer(text)) if j is not None)
            if not counts:
                continue
            index = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            value = ((1.0 + np.log(tf)) if sublinear else tf) * idf[index]
            value /= np.sqrt(value @ value)
            scores += value @ block[index]
        if len(scores) == 1:  # a binary model: one column of log-odds for the second class
            p = 1.0 / (1.0 + np.exp(-scores[0]))
            return np.array([1.0 - p, p])
        scores = np.exp(scores - scores.max())
        return scores / scores.sum()


class NaiveBayesBaseline:
    """scikit-learn's multinomial naive Bayes on word uni+bigram counts (the library baseline)."""

    name = "naive_bayes"

    def __init__(self, texts: Sequence[str], intents: Sequence[str]) -> None:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.naive_bayes import MultinomialNB
        from sklearn.pipeline import Pipeline

        self.pipeline = Pipeline(
            [("counts", CountVectorizer(ngram_range=(1, 2))), ("nb", MultinomialNB(alpha=NB_ALPHA))]
        ).fit(list(texts), list(intents))
        self.classes = np.asarray(self.pipeline.classes_).astype(str)

    def predict_proba_many(self, texts: Sequence[str]) -> np.ndarray:
        return self.pipeline.predict_proba([str(t) for t in texts])


class KeywordRule:
    """Each intent's most telling training words; the intent with most hits wins (module doc)."""

    name = "keyword_rule"

    def __init__(self, texts: Sequence[str], intents: Sequence[str]) -> None:
        per_word: dict[str, Counter[str]] = {}
        for text, intent in zip(texts, intents, strict=True):
            for word in set(_WORDS.findall(str(text).lower())):
                per_word.setdefault(word, Counter())[str(intent)] += 1
        self.majority = Counter(map(str, intents)).most_common(1)[0][0]
        self.classes = np.asarray(sorted(set(map(str, intents))))
        ranked: dict[str, list[tuple[float, int, str]]] = {c: [] for c in self.classes}
        for word, counts in per_word.items():
            total = sum(counts.values())
            intent, n = counts.most_common(1)[0]
            if n >= MIN_KEYWORD_COUNT:
                ranked[intent].append((n / total, n, word))
        self.keywords = {
            intent: {w for _, _, w in sorted(found, reverse=True)[:KEYWORDS_PER_INTENT]}
            for intent, found in ranked.items()
        }

    def predict_proba_many(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.classes)))
        fallback = int(np.flatnonzero(self.classes == self.majority)[0])
        for i, text in enumerate(texts):
            words = set(_WORDS.findall(str(text).lower()))
            hits = np.array([len(words & self.keywords[c]) for c in self.classes], dtype=float)
            if hits.max() > 0 and (hits == hits.max()).sum() == 1:
                out[i, int(hits.argmax())] = 1.0
            else:
                out[i, fallback] = 1.0
        return out


class MajorityBaseline:
    """Every message is the training part's most frequent intent."""

    name = "majority"

    def __init__(self, intents: Sequence[str]) -> None:
        self.classes = np.asarray(sorted(set(map(str, intents))))
        self.majority = Counter(map(str, intents)).most_common(1)[0][0]

    def predict_proba_many(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), len(self.classes)))
        out[:, int(np.flatnonzero(self.classes == self.majority)[0])] = 1.0
        return out


# -- evaluation ------------------------------------------------------------------------------
def predictions(model: Any, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(top intent, its probability) of any model here on ``texts``."""
    p = np.asarray(model.predict_proba_many(list(texts)), dtype=float)
    top = p.argmax(axis=1)
    return np.asarray(model.classes).astype(str)[top], p[np.arange(len(p)), top]


def answered_figures(
    truth: np.ndarray, predicted: np.ndarray, confidence: np.ndarray, threshold: float
) -> dict[str, float]:
    """Unsure rate at ``threshold`` and the accuracy on the answered part."""
    answered = confidence >= threshold
    correct = predicted == truth
    return {
        "threshold": float(threshold),
        "unsure_rate": float(1.0 - answered.mean()) if len(truth) else 0.0,
        "answered_accuracy": float(correct[answered].mean()) if answered.any() else float("nan"),
    }


def tune_threshold(truth: np.ndarray, predicted: np.ndarray, confidence: np.ndarray) -> float:
    """The grid threshold of least cost (module docstring), lowest on ties, >= MIN_THRESHOLD."""
    correct = predicted == truth
    best, best_cost = MIN_THRESHOLD, float("inf")
    for t in THRESHOLD_GRID:
        if t < MIN_THRESHOLD:
            continue
        answered = confidence >= t
        cost = WRONG_ANSWER_COST * float((answered & ~correct).sum()) + float((~answered).sum())
        if cost < best_cost:
            best, best_cost = float(t), cost
    return best


def intent_metrics(
    truth: np.ndarray, predicted: np.ndarray, confidence: np.ndarray, threshold: float | None
) -> dict[str, float]:
    """Accuracy, macro-F1, the calibration error of the top probability and, given a
    threshold, the unsure rate and the answered part's accuracy."""
    from sklearn.metrics import f1_score

    truth = np.asarray(truth).astype(str)
    correct = predicted == truth
    bins = np.minimum((confidence * 10).astype(int), 9)
    ece = sum(
        abs(confidence[bins == b].mean() - correct[bins == b].mean()) * (bins == b).mean()
        for b in np.unique(bins)
    )
    out = {
        "accuracy": float(correct.mean()) if len(truth) else float("nan"),
        "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
        "top_probability_ece": float(ece),
        "n_messages": float(len(truth)),
    }
    if threshold is not None:
        out.update(answered_figures(truth, predicted, confidence, threshold))
    return out


def compare(train: pd.DataFrame, holdout: pd.DataFrame, c: float = LOGISTIC_C) -> dict[str, Any]:
    """Fit the served model and the three baselines on ``train``; every figure on ``holdout``.

    The served model's threshold is tuned on the hold-out (see the module docstring).
    """
    texts, intents = list(train["text"]), list(train["intent"].astype(str))
    pipeline = fit_pipeline(texts, intents, c)
    truth = holdout["intent"].astype(str).to_numpy()
    predicted, confidence = predictions(IntentModel(pipeline, 0.0, {}), holdout["text"])
    threshold = tune_threshold(truth, predicted, confidence)
    categories = (
        pd.concat([train, holdout]).drop_duplicates("intent").set_index("intent")["category"]
    )
    model = IntentModel(pipeline, threshold, categories.fillna("").to_dict(), {"C": c})
    contenders: dict[str, Any] = {
        "tfidf_logistic": model,
        NaiveBayesBaseline.name: NaiveBayesBaseline(texts, intents),
        KeywordRule.name: KeywordRule(texts, intents),
        MajorityBaseline.name: MajorityBaseline(intents),
    }
    hold_out = {}
    for name, contender in contenders.items():
        predicted, confidence = predictions(contender, holdout["text"])
        hold_out[name] = intent_metrics(
            truth, predicted, confidence, threshold if name == "tfidf_logistic" else None
        )
    return {"model": model, "threshold": threshold, "hold_out": hold_out, "contenders": contenders}


# -- the family ------------------------------------------------------------------------------
class IntentFamily(ModelFamily):
    """Support intent from a message's text, gated on accuracy over the keyword rule."""

    name = "intent"
    registered_model = MODEL_NAME
    experiment = EXPERIMENT
    reads = "mart support_messages (support source)"
    metric = PRIMARY_METRIC
    minimum = MINIMUM_ACCURACY
    chance = CHANCE_ACCURACY
    api = "serving.apis.assist"
    summary = "a customer-service assistant: the intent of a message, answers, hand-over"

    def has_data(self, settings: Settings) -> bool:
        from warehouse import reader

        rows = reader.query_if_built(
            settings,
            "select count(*) as n, count(distinct intent) as k from main.support_messages",
        )
        return (
            rows is not None
            and int(rows["n"].iloc[0]) >= MIN_MESSAGES
            and (int(rows["k"].iloc[0]) >= 2)
        )

    def load_data(self, settings: Settings) -> pd.DataFrame:
        return load_messages(settings)

    def split(self, data: pd.DataFrame, settings: Settings) -> Split:
        kept = frequent_intents(data)
        train, holdout = stratified_split(kept, HOLDOUT_SHARE, settings.seed)
        info = {
            "holdout": f"stratified {HOLDOUT_SHARE:.0%} by intent (seeded)",
            "n_train": len(train),
            "n_test": len(holdout),
            "n_intents": int(kept["intent"].nunique()),
            "n_dropped_rare_intent": int(len(data) - len(kept)),
        }
        return Split(train, holdout, kept, info)

    def fit(self, split: Split, settings: Settings) -> Fitted:
        result = compare(split.train, split.holdout)
        model = result["model"]
        hold_out = result["hold_out"]
        return Fitted(
            model=model,
            input_example=pd.DataFrame({"text": list(split.holdout["text"].head(3))}),
            params={
                "C": LOGISTIC_C,
                "features": "tfidf words 1-2 (min_df 2) + chars_wb 2-5 (min_df 3)",
                "threshold": result["threshold"],
                "threshold_rule": f"least {WRONG_ANSWER_COST:g} x wrong + 1 x unsure on the "
                f"hold-out, >= {MIN_THRESHOLD}",
                "nb_alpha": NB_ALPHA,
                "seed": settings.seed,
            },
            floor=hold_out[KeywordRule.name]["accuracy"],
            tags={"threshold": result["threshold"]},
            details={"hold_out": hold_out, "threshold": result["threshold"]},
            run_name=f"intent-C{LOGISTIC_C:g}",
            state={"contenders": result["contenders"]},
        )

    def evaluate(self, model: Any, split: Split, fitted: Fitted) -> Evidence:
        truth = split.holdout["intent"].astype(str).to_numpy()
        predicted, confidence = predictions(model, split.holdout["text"])
        threshold = getattr(model, "threshold", None)
        metrics = intent_metrics(truth, predicted, confidence, threshold)
        metrics = {k: v for k, v in metrics.items() if not k.startswith("n_")}
        return mean_evidence(metrics, (predicted == truth).astype(float))

    def log(self, fitted: Fitted, split: Split) -> None:
        import mlflow

        for name, metrics in fitted.details["hold_out"].items():
            mlflow.log_metrics({f"{name}.{k}": v for k, v in metrics.items() if v == v})
        mlflow.log_dict(fitted.details, "evaluation.json")


FAMILY = IntentFamily()
__all__ = ["FAMILY", "MODEL_NAME", "IntentModel", "compare", "stratified_split"]
