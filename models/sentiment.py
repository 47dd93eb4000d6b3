"""Review sentiment: P(a review is positive) from its text, and what reviews say per product.

**Labels** come from the ratings (mart ``review_facts``): 4-5 stars positive, 1-2 negative.
3-star reviews are kept apart as neutral: the model neither learns from them nor is judged on
them, and their mean probability, which must fall between the negative and the positive
reviews' means, is logged as a behavioural check (``neutral_mean_probability``).

**Split by product.** A product's reviews are all in training or all in the hold-out, never
both, so the hold-out measures what the model does for a product it has never read about. A
product's side is a hash of ``seed:product_id`` (``HOLDOUT_SHARE`` of products held out): the
same product stays on the same side when new reviews arrive, so a champion trained on an
earlier run has never seen the current hold-out either and the gate compares like with like.
The gate's paired bootstrap resamples *products* (clusters of correlated reviews), not reviews.
Where the reviews carry the reviewer's age band, the gate also reports ROC-AUC per band (over
the reviews of the band) and refuses a challenger that widens the gap between bands
(``models.fairness``).

**Models, side by side on that hold-out** (``bench/sentiment.py`` prints the figures):

- the served model: TF-IDF of word uni- and bigrams and of character 2-5-grams (robust to
  typos and ``tts``-style shorthand) into a logistic regression, ``C`` chosen by log loss on
  product-grouped folds. Unweighted logistic regression minimises log loss, so its outputs are
  calibrated probabilities: ECE 0.017 on the clothing hold-out (logged every run). Isotonic
  recalibration on product folds halves that to 0.008 for three more fits, and word n-grams
  alone score the same ROC-AUC there (0.972 against 0.970) at a tenth of the fit time; the
  characters are kept for misspelt and short texts that callers send. The model reads
  ``"<title>. <text>"`` (the text alone when there is no title, as a caller sends it);
- the lexicon baseline: VADER's compound score (``vaderSentiment``, which ships its lexicon)
  when it is installed, else a small lexicon of our own with negation handling, made a
  probability by isotonic regression on the training part. Its ROC-AUC is the floor the
  model must beat;
- the majority class (every review positive): the accuracy to beat.

Sentence embeddings are not offered: the one model shipped inside a PyPI package needs torch
(about 2 GB with its CUDA dependencies) for at most a point of ROC-AUC over TF-IDF here.

**The served model** (``SentimentModel``) also carries the reviews' insight per product: the
statistics of mart ``product_review_stats`` and the praise and complaint terms of
``models.text_mining``, plus the topics across all reviews; the same tables are logged in the
run (``text_mining/``). It is the model the gate judged (fitted on the training products only):
a refit on every product would make the next champion comparison unfair.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from mercato.settings import Settings, get_settings
from models.family import Fitted, ModelFamily, Split
from models.gate import Evidence, auc_evidence
from models.text_mining import mine_terms, model_texts, topics

MODEL_NAME = "mercato_sentiment"
EXPERIMENT = "mercato_sentiment"
PRIMARY_METRIC = "roc_auc"
#: Below this ROC-AUC a text model tells praise from complaint too poorly to serve.
MINIMUM_ROC_AUC = 0.6
#: Share of products whose reviews are held out.
HOLDOUT_SHARE = 0.2
#: Inverse regularisation strengths tried by product-grouped cross-validation.
C_GRID = (1.0, 4.0, 16.0)
CV_FOLDS = 3
#: A probability at or above this is labelled positive.
THRESHOLD = 0.5
#: What ``has_data`` asks for before training is worth trying.
MIN_REVIEWS_PER_CLASS = 20
MIN_PRODUCTS = 5
#: Praise and complaint terms kept per product in the served model.
TERMS_PER_PRODUCT = 10

#: The columns of ``build_sentiment_data`` that describe a product, from product_review_stats.
PRODUCT_STATS = (
    "n_reviews",
    "mean_rating",
    "positive_share",
    "neutral_share",
    "negative_share",
    "recommended_share",
    "rating_trend_per_30d",
    "first_review_at",
    "last_review_at",
)


# -- data ------------------------------------------------------------------------------------
def build_sentiment_data(settings: Settings | None = None) -> pd.DataFrame:
    """Every review of mart ``review_facts`` with its product's ``product_review_stats``."""
    from warehouse import reader

    settings = settings or get_settings()
    stats = ", ".join(f"stats.{c} as product_{c}" for c in PRODUCT_STATS)
    return reader.query(
        settings,
        f"""
        select
            facts.review_id, facts.product_id, facts.category, facts.department,
            facts.rating, facts.is_positive, facts.title, facts.text, facts.created_at,
            facts.age_band, {stats}
        from main.review_facts as facts
        left join main.product_review_stats as stats on facts.product_id = stats.product_id
        order by facts.review_id
        """,
    )


def is_holdout_product(product_id: str, seed: int, share: float = HOLDOUT_SHARE) -> bool:
    """Whether a product's reviews are held out: a stable hash of ``seed:product_id``."""
    digest = hashlib.sha256(f"{seed}:{product_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def product_split(
    data: pd.DataFrame, seed: int, share: float = HOLDOUT_SHARE
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, hold-out) with every product's reviews on one side (see the module docstring)."""
    products = data["product_id"].astype(str)
    side = {p: is_holdout_product(p, seed, share) for p in products.unique()}
    held = products.map(side).to_numpy(dtype=bool)
    return data[~held].reset_index(drop=True), data[held].reset_index(drop=True)


def labelled(frame: pd.DataFrame) -> pd.DataFrame:
    """The reviews with a sentiment label (3-star reviews left out)."""
    label = pd.to_numeric(frame["is_positive"], errors="coerce")
    return frame[label.notna()].assign(is_positive=label[label.notna()].astype(int))


def _texts(frame: pd.DataFrame) -> list[str]:
    return model_texts(frame["text"], frame["title"] if "title" in frame.columns else None)


# -- models ----------------------------------------------------------------------------------
def build_vectorizer() -> Any:
    """Word uni+bigrams and character 2-5-grams (within word boundaries), both sublinear TF-IDF."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    min_df=3,
                    sublinear_tf=True,
                    max_features=300_000,
                ),
            ),
        ]
    )


def fit_text_model(
    texts: Sequence[str],
    labels: np.ndarray,
    groups: Sequence[str],
    grid: Sequence[float] = C_GRID,
) -> tuple[Any, float, dict[float, float]]:
    """(fitted pipeline, chosen C, mean log loss per C on product-grouped folds).

    The vectorizer is fitted once on the whole training part and shared by the folds (its
    vocabulary and IDF see the folds' validation texts, not their labels): refitting it per
    fold would cost most of the training time for a choice of C that hardly moves.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import Pipeline

    y = np.asarray(labels, dtype=int)
    vectorizer = build_vectorizer()
    x = vectorizer.fit_transform(list(texts))
    groups = np.asarray([str(g) for g in groups])
    losses: dict[float, float] = {}
    folds = min(CV_FOLDS, len(np.unique(groups)))
    if folds >= 2:
        splits = [
            (fit, val)
            for fit, val in GroupKFold(n_splits=folds).split(x, y, groups)
            if len(np.unique(y[fit])) == 2 and len(np.unique(y[val])) == 2
        ]
        for c in grid:
            scores = []
            for fit, val in splits:
                lr = LogisticRegression(C=c, max_iter=3000).fit(x[fit], y[fit])
                p = lr.predict_proba(x[val])[:, 1]
                scores.append(log_loss(y[val], np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1]))
            if scores:
                losses[c] = float(np.mean(scores))
    chosen = min(losses, key=losses.__getitem__) if losses else 4.0
    classifier = LogisticRegression(C=chosen, max_iter=3000).fit(x, y)
    return Pipeline([("features", vectorizer), ("classifier", classifier)]), chosen, losses


def _word_set(words: str) -> frozenset[str]:
    """The words of a whitespace-separated list."""
    return frozenset(words.split())


class SimpleLexicon:
    """A small sentiment lexicon of review words with negation: the fallback when VADER is not
    installed. Score = (positive hits - negative hits) / sqrt(words + 1), a negation (``not``,
    ``never``...) within the three words before a hit flipping it."""

    name = "simple_lexicon"
    POSITIVE = _word_set(
        """love loved lovely great perfect perfectly beautiful gorgeous comfortable comfy soft
        flattering cute nice excellent amazing fantastic wonderful happy pleased recommend
        favorite favourite stunning elegant pretty glad best fits fit quality sturdy works
        worth super awesome good well flawless compliments easy fine adorable chic"""
    )
    NEGATIVE = _word_set(
        """disappointed disappointing disappointment poor cheap unflattering returned return
        returning broke broken ripped tore hole holes itchy scratchy awful terrible horrible bad
        worst wrong ugly faded shrank shrunk unfortunately sadly waste defective flimsy thin
        tight boxy baggy huge tiny sloppy frumpy stiff uncomfortable damaged late
        refund complaint hate hated odd weird"""
    )
    NEGATORS = frozenset({"not", "no", "never", "isn't", "wasn't", "don't", "didn't", "nor"})
    _WORD = re.compile(r"[a-z']+")

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty(len(texts))
        for i, text in enumerate(texts):
            words = self._WORD.findall(str(text).lower())
            total = 0.0
            for j, word in enumerate(words):
                polarity = (word in self.POSITIVE) - (word in self.NEGATIVE)
                if polarity and any(w in self.NEGATORS for w in words[max(0, j - 3) : j]):
                    polarity = -polarity
                total += polarity
            out[i] = total / math.sqrt(len(words) + 1)
        return out


class VaderLexicon:
    """VADER's compound score (``vaderSentiment`` ships its lexicon in the package)."""

    name = "vader"

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self._analyzer.polarity_scores(str(t))["compound"] for t in texts])


def lexicon() -> SimpleLexicon | VaderLexicon:
    """VADER when ``vaderSentiment`` is installed, else :class:`SimpleLexicon`."""
    try:
        return VaderLexicon()
    except ImportError:
        return SimpleLexicon()


class LexiconBaseline:
    """A lexicon's score, made a probability by isotonic regression on the training reviews."""

    def __init__(self, texts: Sequence[str], labels: np.ndarray, scorer: Any = None) -> None:
        from sklearn.isotonic import IsotonicRegression

        self.scorer = scorer or lexicon()
        self.name = f"lexicon_{self.scorer.name}"
        self._iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-4, y_max=1 - 1e-4)
        self._iso.fit(self.scorer.scores(texts), np.asarray(labels, dtype=float))

    def predict_proba_many(
        self, texts: Sequence[str], titles: Sequence[Any] | None = None
    ) -> np.ndarray:
        return np.asarray(self._iso.predict(self.scorer.scores(model_texts(texts, titles))))


class MajorityBaseline:
    """Every review gets the training part's positive rate: ROC-AUC 0.5, the accuracy to beat."""

    name = "majority"

    def __init__(self, labels: np.ndarray) -> None:
        self.rate = float(np.mean(labels))

    def predict_proba_many(
        self, texts: Sequence[str], titles: Sequence[Any] | None = None
    ) -> np.ndarray:
        return np.full(len(texts), self.rate)


class SentimentModel(PythonModel):
    """The served model: probabilities from review text, and per-product review insight.

    ``pipeline`` is the fitted scikit-learn pipeline (TF-IDF into logistic regression);
    ``insights`` maps a product id to its statistics and its praise and complaint terms;
    ``topics`` are the topics across all reviews at training time.
    """

    def __init__(
        self,
        pipeline: Any,
        insights: Mapping[str, dict[str, Any]],
        topics: Sequence[dict[str, Any]] = (),
        threshold: float = THRESHOLD,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.insights = {str(k): dict(v) for k, v in insights.items()}
        self.topics = list(topics)
        self.threshold = float(threshold)
        self.info = dict(info or {})
        self.algorithm = "tfidf_words_chars_logistic_regression"

    def __getstate__(self) -> dict[str, Any]:
        """What is pickled: everything but the explainer, which is rebuilt when first asked."""
        return {k: v for k, v in self.__dict__.items() if k != "_explainer"}

    # -- serving contract -------------------------------------------------------------------
    def predict_proba_many(
        self, texts: Sequence[str], titles: Sequence[Any] | None = None
    ) -> np.ndarray:
        """P(positive) for each text (with its title, when given)."""
        if len(texts) == 0:
            return np.empty(0)
        return self.pipeline.predict_proba(model_texts(texts, titles))[:, 1]

    def predict_proba(self, text: str, title: str | None = None) -> float:
        """P(positive) for one review text."""
        return float(self.predict_proba_many([text], [title])[0])

    def label(self, probability: float) -> str:
        """``positive`` at or above the threshold, else ``negative``."""
        return "positive" if probability >= self.threshold else "negative"

    def explain_many(
        self, texts: Sequence[str], titles: Sequence[Any] | None = None, k: int = 5
    ) -> list[dict[str, list[tuple[str, float]]]]:
        """The terms that drove each text's score: ``{"positive": [(term, weight)...],
        "negative": [...]}``, at most ``k`` a side, strongest first (see :class:`Explainer`)."""
        explainer = self.__dict__.get("_explainer")
        if explainer is None:
            explainer = self.__dict__["_explainer"] = Explainer(self.pipeline)
        return [top_terms(c, k) for c in explainer.contributions(model_texts(texts, titles))]

    def known_product(self, product_id: str) -> bool:
        return str(product_id) in self.insights

    def product_insight(self, product_id: str) -> dict[str, Any]:
        """A product's review statistics and terms; ``KeyError`` for a product without reviews."""
        return self.insights[str(product_id)]

    # -- pyfunc ------------------------------------------------------------------------------
    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None):
        """Batch pyfunc: ``text`` (and optional ``title``) columns in, probability and label out."""
        titles = model_input["title"] if "title" in model_input.columns else None
        p = self.predict_proba_many(list(model_input["text"]), titles)
        return pd.DataFrame({"probability_positive": p, "label": [self.label(v) for v in p]})


class Explainer:
    """What each term of a text adds to its log-odds of being positive, in the served pipeline.

    The model is linear: a text's log-odds is the intercept plus, for every n-gram it contains,
    the n-gram's TF-IDF value times its coefficient. Word uni- and bigrams are terms as they
    stand (``runs small``). A character n-gram belongs to the whitespace-separated tokens it was
    cut from (``char_wb`` never crosses a space), so its share goes to them in proportion to how
    often each contains it, and a token's share goes to the word the word vectorizer reads in
    it (``fit,`` -> ``fit``; the token itself when it reads none: ``tts``, an emoji). Nothing is
    approximated: the weights of all terms plus the intercept are the text's log-odds.
    """

    def __init__(self, pipeline: Any) -> None:
        union = pipeline.named_steps["features"]
        classifier = pipeline.named_steps["classifier"]
        coef = np.asarray(classifier.coef_, dtype=np.float64).ravel()
        weights = union.transformer_weights or {}
        self.intercept = float(np.asarray(classifier.intercept_).ravel()[0])
        self.blocks: list[tuple[str, Any, np.ndarray, np.ndarray | None]] = []
        start = 0
        for name, vectorizer in union.transformer_list:
            width = len(vectorizer.vocabulary_)
            block = coef[start : start + width] * float(weights.get(name, 1.0))
            start += width
            is_word = vectorizer.analyzer == "word"
            names = np.asarray(vectorizer.get_feature_names_out()) if is_word else None
            self.blocks.append((name, vectorizer, block, names))
        words = next((v for _, v, _, n in self.blocks if n is not None), None)
        self._read_words = (
            (lambda token: words.build_tokenizer()(words.build_preprocessor()(token)))
            if words is not None
            else (lambda token: [])
        )

    def _token_term(self, token: str) -> list[str]:
        return self._read_words(token) or [token.strip(".,;:!?\"'()[]") or token]

    def contributions(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """Per text, every term's weight in log-odds (the intercept left out)."""
        from collections import Counter, defaultdict

        texts = list(texts)
        out: list[defaultdict[str, float]] = [defaultdict(float) for _ in texts]
        for _, vectorizer, coef, names in self.blocks:
            matrix = vectorizer.transform(texts).tocsr()
            for i, text in enumerate(texts):
                row = matrix.getrow(i)
                weighted = (row.data * coef[row.indices]).tolist()
                values = dict(zip(row.indices.tolist(), weighted, strict=True))
                if names is not None:
                    for j, v in values.items():
                        out[i][str(names[j])] += v
                    continue
                analyzer, vocabulary = vectorizer.build_analyzer(), vectorizer.vocabulary_
                per_token: dict[str, Counter[int]] = {}
                totals: Counter[int] = Counter()
                for token in vectorizer.build_preprocessor()(text).split():
                    grams = Counter(vocabulary[g] for g in analyzer(token) if g in vocabulary)
                    per_token.setdefault(token, Counter()).update(grams)
                    totals.update(grams)
                for token, grams in per_token.items():
                    share = sum(n / totals[j] * values.get(j, 0.0) for j, n in grams.items())
                    terms = self._token_term(token)
                    for term in terms:
                        out[i][term] += share / len(terms)
        return [dict(c) for c in out]


def top_terms(contributions: Mapping[str, float], k: int) -> dict[str, list[tuple[str, float]]]:
    """The ``k`` strongest terms of each sign, strongest first (ties by term)."""
    ranked = sorted(contributions.items(), key=lambda item: (-abs(item[1]), item[0]))
    return {
        "positive": [(t, w) for t, w in ranked if w > 0][:k],
        "negative": [(t, w) for t, w in ranked if w < 0][:k],
    }


# -- evaluation ------------------------------------------------------------------------------
def probability_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC of the negative class, macro-F1, accuracy (plain and balanced), Brier,
    log loss, ECE."""
    from sklearn.metrics import (
        average_precision_score,
        balanced_accuracy_score,
        brier_score_loss,
        f1_score,
        log_loss,
        roc_auc_score,
    )

    y = np.asarray(y).astype(int)
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    out = {"n_reviews": float(len(y)), "positive_rate": float(y.mean()) if len(y) else 0.0}
    if len(np.unique(y)) < 2:
        return out
    predicted = (p >= THRESHOLD).astype(int)
    bins = np.minimum((p * 10).astype(int), 9)
    ece = sum(
        abs(p[bins == b].mean() - y[bins == b].mean()) * (bins == b).mean() for b in np.unique(bins)
    )
    out.update(
        {
            "roc_auc": float(roc_auc_score(y, p)),
            "pr_auc_negative": float(average_precision_score(1 - y, 1 - p)),
            "macro_f1": float(f1_score(y, predicted, average="macro")),
            "accuracy": float((predicted == y).mean()),
            "balanced_accuracy": float(balanced_accuracy_score(y, predicted)),
            "brier": float(brier_score_loss(y, p)),
            "log_loss": float(log_loss(y, p, labels=[0, 1])),
            "ece": float(ece),
        }
    )
    return out


def product_evidence(
    metrics: Mapping[str, float],
    labels: np.ndarray,
    scores: np.ndarray,
    products: Sequence[str],
    row_groups: Mapping[str, np.ndarray] | None = None,
) -> Evidence:
    """ROC-AUC evidence whose units are products: a bootstrap weight of a product is the weight
    of each of its reviews (a cluster bootstrap; reviews of one product are not independent).
    ``row_groups`` label each review (the reviewer's age band); the gate computes ROC-AUC per
    group over the reviews themselves."""
    reviews = auc_evidence(metrics, labels, scores)
    _, product_index = np.unique(np.asarray([str(p) for p in products]), return_inverse=True)
    n_products = int(product_index.max()) + 1 if len(product_index) else 0

    def statistic(weights: np.ndarray) -> float:
        return reviews.statistic(np.asarray(weights, dtype=float)[product_index])

    return Evidence(
        dict(metrics),
        n_products,
        statistic,
        row_groups=dict(row_groups or {}),
        row_statistic=reviews.statistic,
    )


def reviewer_groups(rated: pd.DataFrame) -> dict[str, np.ndarray]:
    """``{age_band: band per review}`` when the reviews carry reviewer ages, else empty."""
    from models.fairness import AGE, age_band

    if "age_band" not in rated.columns or rated["age_band"].isna().all():
        return {}
    return {AGE: age_band(rated["age_band"])}


def score_reviews(model: Any, frame: pd.DataFrame) -> np.ndarray:
    """Any model's probabilities for the reviews of ``frame`` (text and title)."""
    titles = frame["title"] if "title" in frame.columns else None
    return np.asarray(model.predict_proba_many(list(frame["text"]), titles), dtype=float)


def holdout_metrics(model: Any, holdout: pd.DataFrame) -> dict[str, float]:
    """Metrics of a model on the labelled hold-out, with the neutral reviews' mean probability."""
    rated = labelled(holdout)
    p = score_reviews(model, rated)
    y = rated["is_positive"].to_numpy()
    metrics = probability_metrics(y, p)
    metrics["n_products"] = float(rated["product_id"].nunique())
    neutral = holdout[pd.to_numeric(holdout["rating"], errors="coerce") == 3]
    if len(neutral) and len(y) and len(np.unique(y)) == 2:
        metrics["neutral_mean_probability"] = float(score_reviews(model, neutral).mean())
        metrics["negative_mean_probability"] = float(p[y == 0].mean())
        metrics["positive_mean_probability"] = float(p[y == 1].mean())
    return metrics


# -- product insight -------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """A cell as JSON-able Python: NaN and NaT -> None, timestamps -> ISO text."""
    if value is None or (np.isscalar(value) or value is pd.NaT) and pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, np.generic):
        return _plain(value.item())
    return value


def product_insights(data: pd.DataFrame, terms: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per product: its ``product_review_stats`` (carried by ``build_sentiment_data``), its
    category, and its praise and complaint terms (empty lists when it has too few reviews)."""
    out: dict[str, dict[str, Any]] = {}
    by_product = terms.get("by_product", {})
    columns = [c for c in PRODUCT_STATS if f"product_{c}" in data.columns]
    first = data.drop_duplicates("product_id").set_index("product_id")
    counts = data.groupby("product_id").size()
    for product, row in first.iterrows():
        key = str(product)
        stats = {c: _plain(row[f"product_{c}"]) for c in columns}
        stats.setdefault("n_reviews", int(counts[product]))
        found = by_product.get(key, {})
        out[key] = {
            **stats,
            "category": _plain(row.get("category")),
            "praise": list(found.get("praise", []))[:TERMS_PER_PRODUCT],
            "complaints": list(found.get("complaints", []))[:TERMS_PER_PRODUCT],
        }
    return out


# -- the family ------------------------------------------------------------------------------
class SentimentFamily(ModelFamily):
    """Review sentiment from text, gated on ROC-AUC over a product-grouped hold-out."""

    name = "sentiment"
    registered_model = MODEL_NAME
    experiment = EXPERIMENT
    reads = "mart review_facts with product_review_stats"
    metric = PRIMARY_METRIC
    minimum = MINIMUM_ROC_AUC
    chance = 0.5
    api = "serving.apis.sentiment"
    summary = "probability that a review is positive, and what reviews praise and criticise"

    def has_data(self, settings: Settings) -> bool:
        """Enough labelled reviews of both kinds over enough products (False without marts)."""
        from warehouse import reader

        rows = reader.query_if_built(
            settings,
            """
            select
                count(*) filter (where is_positive = 1) as n_positive,
                count(*) filter (where is_positive = 0) as n_negative,
                count(distinct product_id) as n_products
            from main.review_facts
            """,
        )
        if rows is None:
            return False
        counts = rows.iloc[0]
        return bool(
            counts["n_positive"] >= MIN_REVIEWS_PER_CLASS
            and counts["n_negative"] >= MIN_REVIEWS_PER_CLASS
            and counts["n_products"] >= MIN_PRODUCTS
        )

    def load_data(self, settings: Settings) -> pd.DataFrame:
        return build_sentiment_data(settings)

    def split(self, data: pd.DataFrame, settings: Settings) -> Split:
        data = data.sort_values("review_id", kind="stable").reset_index(drop=True)
        train, holdout = product_split(data, settings.seed)
        train_rated, holdout_rated = labelled(train), labelled(holdout)
        for part, rated in (("training", train_rated), ("hold-out", holdout_rated)):
            if rated["is_positive"].nunique() < 2:
                raise ValueError(
                    f"the {part} products' reviews are not both positive and negative "
                    f"({len(rated)} labelled reviews of {rated['product_id'].nunique()} "
                    "products): more products with reviews are needed"
                )
        info = {
            "holdout_share": HOLDOUT_SHARE,
            "n_train_reviews": len(train_rated),
            "n_holdout_reviews": len(holdout_rated),
            "n_train_products": train["product_id"].nunique(),
            "n_holdout_products": holdout["product_id"].nunique(),
            "n_neutral_reviews": int(len(data) - len(train_rated) - len(holdout_rated)),
            "label_rule": "4-5 stars positive, 1-2 negative, 3 neutral (kept apart)",
        }
        return Split(train, holdout, data, info)

    def fit(self, split: Split, settings: Settings) -> Fitted:
        """The text model beside the lexicon and majority baselines; text mining on all reviews."""
        rated = labelled(split.train)
        texts, y = _texts(rated), rated["is_positive"].to_numpy()
        pipeline, c, cv_losses = fit_text_model(texts, y, rated["product_id"].astype(str))
        terms = mine_terms(split.data)
        themes = topics(_texts(split.data), split.data["rating"], seed=settings.seed)
        lexicon_baseline = LexiconBaseline(texts, y)
        model = SentimentModel(
            pipeline,
            product_insights(split.data, terms),
            themes,
            info={"C": c, "lexicon": lexicon_baseline.name},
        )
        contenders = {
            "tfidf_logistic": model,
            lexicon_baseline.name: lexicon_baseline,
            "majority": MajorityBaseline(y),
        }
        comparison = {name: holdout_metrics(m, split.holdout) for name, m in contenders.items()}
        example = split.holdout.head(3) if len(split.holdout) else split.train.head(3)
        return Fitted(
            model=model,
            input_example=pd.DataFrame(
                {"text": list(example["text"]), "title": list(example["title"].fillna(""))}
            ),
            params={
                "C": c,
                "C_grid": ",".join(map(str, C_GRID)),
                "features": "tfidf words 1-2 (min_df 2) + chars_wb 2-5 (min_df 3)",
                "input": "title. text",
                "threshold": THRESHOLD,
                "lexicon_baseline": lexicon_baseline.name,
                "seed": settings.seed,
            },
            floor=comparison[lexicon_baseline.name].get("roc_auc"),
            tags={"C": c, "lexicon": lexicon_baseline.name},
            details={
                "comparison": comparison,
                "cv_log_loss": {str(k): v for k, v in cv_losses.items()},
                "topics": themes,
                "terms_overall": terms["overall"],
            },
            run_name=f"sentiment-C{c:g}",
            state={"terms": terms, "contenders": contenders},
        )

    def evaluate(self, model: Any, split: Split, fitted: Fitted) -> Evidence:
        rated = labelled(split.holdout)
        p = score_reviews(model, rated)
        metrics = holdout_metrics(model, split.holdout)
        metrics = {k: v for k, v in metrics.items() if not k.startswith("n_")}
        return product_evidence(
            metrics,
            rated["is_positive"].to_numpy(),
            p,
            rated["product_id"],
            reviewer_groups(rated),
        )

    def log(self, fitted: Fitted, split: Split) -> None:
        import mlflow

        from models import tracking

        details, terms = fitted.details, fitted.state["terms"]
        for name, metrics in details["comparison"].items():
            mlflow.log_metrics({f"{name}.{k}": v for k, v in metrics.items()})
        mlflow.log_dict({k: details[k] for k in ("comparison", "cv_log_loss")}, "evaluation.json")
        mlflow.log_dict(terms["overall"], "text_mining/terms_overall.json")
        mlflow.log_table(
            _terms_table(terms["by_category"], "category"), "text_mining/terms_by_category.json"
        )
        mlflow.log_table(
            _terms_table(terms["by_product"], "product_id"), "text_mining/terms_by_product.json"
        )
        topics_table = pd.DataFrame(
            [{**t, "terms": ", ".join(t["terms"])} for t in details["topics"]],
            columns=["topic", "terms", "n_reviews", "share", "mean_rating", "positive_share"],
        )
        mlflow.log_table(topics_table, "text_mining/topics.json")
        tracking.log_figure(_terms_figure(terms["overall"]), "text_mining/terms_overall.png")
        tracking.log_figure(
            _calibration_figure(fitted.state["contenders"], split.holdout), "calibration.png"
        )


def _terms_table(groups: Mapping[str, Any], key: str) -> pd.DataFrame:
    """One row per (group, side, term), for MLflow's table view."""
    rows = [
        {key: group, "side": side, "rank": rank, **entry}
        for group, found in groups.items()
        for side in ("praise", "complaints")
        for rank, entry in enumerate(found[side], start=1)
    ]
    columns = [key, "side", "rank", "term", "z", "n_reviews"]
    return pd.DataFrame(rows, columns=columns)


def _terms_figure(overall: Mapping[str, Any]) -> Any:
    from models.tracking import figure

    fig, ax = figure(7, 5)
    entries = list(overall["praise"])[::-1] + list(overall["complaints"])
    labels = [e["term"] for e in entries]
    values = [e["z"] for e in entries]
    colours = ["tab:green" if v > 0 else "tab:red" for v in values]
    ax.barh(range(len(values)), values, color=colours)
    ax.set_yticks(range(len(values)), labels)
    ax.set(xlabel="log-odds z (positive: praise, negative: complaint)", title="What reviews say")
    fig.tight_layout()
    return fig


def _calibration_figure(models: Mapping[str, Any], holdout: pd.DataFrame) -> Any:
    from sklearn.calibration import calibration_curve

    from models.tracking import figure

    fig, ax = figure(5.5, 5)
    rated = labelled(holdout)
    y = rated["is_positive"].to_numpy()
    for name, model in models.items():
        if name == "majority":
            continue
        frac, mean_p = calibration_curve(y, score_reviews(model, rated), n_bins=10)
        ax.plot(mean_p, frac, marker="o", label=name)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    ax.set(xlabel="mean predicted probability", ylabel="observed positive share")
    ax.set(title="Calibration (product hold-out)")
    ax.legend()
    return fig


FAMILY = SentimentFamily()
