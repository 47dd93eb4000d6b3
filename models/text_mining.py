"""Text mining of reviews: what customers praise and complain about, and what they write about.

**Praise and complaint terms.** Words and two-word phrases (``runs small``, ``not flattering``)
are counted once per review. For a group of reviews (all of them, a category, a product), the
terms that tell its positive reviews (4-5 stars) from its negative ones (1-2 stars) are ranked
by the log-odds ratio with an informative Dirichlet prior, z-scored (Monroe, Colaresi & Quinn
2008, "Fightin' Words"): a term's share among the positive reviews' terms against its share
among the negative ones, each smoothed towards the term's share in a background (all reviews
for the overall and category contrasts, the product's category for a product). The prior keeps
rare terms from topping the list on one or two uses and lets a product with no negative review
still show what its reviews praise more than its category's do. A term is listed when
``z >= MIN_Z`` in its side's direction (one-sided 95%) and it appears in at least
``MIN_TERM_REVIEWS`` reviews of its side.

**Terms are about the product.** A word that only says how the reviewer feels (``love``,
``perfect``, ``disappointed``) or what they did (``bought``, ``returned``, ``wanted``) tops
every product's list and says nothing about the product: these ``GENERIC_WORDS`` and English
stop words are never a term on their own. A term is a word, or a phrase of two or three
words, that holds at least one other word; a phrase never starts or ends on a stop word, but
negations and intensifiers may start one and carry the complaint (``not flattering``, ``too
small``, ``very soft``), and a feeling word may join what it is about (``love the colour``,
``looks cheap``). Phrases are cut from the text as written, so ``true to size`` stays whole
rather than becoming ``true size`` once ``to`` is dropped.

**Topics.** NMF on TF-IDF of the same terms over every review: each topic is its top terms,
how many reviews it dominates, and their mean rating and positive share, so "fit and sizing"
can be seen to rate lower than "colour and softness". NMF rather than LDA: on short reviews it
gives the more coherent topics for the cost of one sparse factorisation.

Every function takes plain sequences and returns plain Python (JSON-able) structures or
frames; scikit-learn is imported inside them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

#: Terms must clear this z in their side's direction (one-sided 95%) to be listed.
MIN_Z = 1.645
#: ... and appear in at least this many reviews of their side.
MIN_TERM_REVIEWS = 2
#: Pseudo-counts of the background prior (how hard a small group is pulled towards it).
PRIOR_STRENGTH = 500.0
#: Products with fewer labelled reviews get no terms of their own (too little to contrast).
MIN_PRODUCT_REVIEWS = 5


def _word_set(words: str) -> frozenset[str]:
    """The words of a whitespace-separated list."""
    return frozenset(words.split())


#: English stop words that may start a phrase: they carry praise and complaint.
KEPT_STOP_WORDS = frozenset({"not", "no", "nor", "never", "nothing", "cannot", "too", "very"})
#: Words that say how a reviewer feels or what they did, not what the product is like: never a
#: term on their own (see the module docstring), though they may be part of a phrase.
GENERIC_WORDS = _word_set(
    """absolutely actually adorable amazing appear appeared appears arrived awesome awful bad
    beautiful beautifully best better bit bought bummed buy buying compliment compliments could
    couldn't cute decided definitely did disappointed disappointing disappointment does doing
    excellent exchange excited expected expecting fantastic favorite favourite feel feels felt
    fine get gets getting glad going good gorgeous got great happy hate hated highly hope hoped
    hopes hoping horrible item items just keep keeping kept know like liked likes little look
    looked looking looks lot love loved lovely loves loving made make makes maybe minutes nice
    ok okay online order ordered ordering overall perfect perfectly pleased poor pretty product
    purchase purchased purchasing really received recommend recommended retailer return
    returned returning returns sad sadly said saw say seemed seems seen send sent simply store
    stunning super sure terrible thing things think thought time times took totally tried truly
    try trying unfortunately usually want wanted wanting way wear wearing went wish wished
    wonderful wore worn worse worst"""
)
TOKEN_PATTERN = r"(?u)\b[a-zA-Z][a-zA-Z']+\b"
_TOKENS = re.compile(TOKEN_PATTERN)


def stop_words() -> list[str]:
    """scikit-learn's English stop words without the ones that carry sentiment."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return sorted(ENGLISH_STOP_WORDS - KEPT_STOP_WORDS)


@functools.cache
def _word_classes() -> tuple[frozenset[str], frozenset[str]]:
    """(English stop words, words that cannot be a term's only word)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    stops = frozenset(ENGLISH_STOP_WORDS)
    return stops, stops | GENERIC_WORDS


def category_words(categories: Sequence[Any]) -> frozenset[str]:
    """The words of category names and their singulars (``Dresses`` -> ``dresses``, ``dress``):
    what the product *is*, not what it is like, so never a term on its own either."""
    out: set[str] = set()
    for name in {str(c) for c in categories if isinstance(c, str) and c}:
        for word in _TOKENS.findall(name.lower()):
            out.add(word)
            if word.endswith("es"):
                out.add(word[:-2])
            if word.endswith("s"):
                out.add(word[:-1])
    return frozenset(out)


def review_analyzer(text: str, also_generic: frozenset[str] = frozenset()) -> list[str]:
    """The terms of one text: words and phrases of up to three words (module docstring);
    ``also_generic`` words are treated as :data:`GENERIC_WORDS`."""
    stops, not_alone = _word_classes()
    not_alone = not_alone | also_generic if also_generic else not_alone
    words = _TOKENS.findall(str(text).lower().replace("\u2019", "'"))
    out = [w for w in words if w not in not_alone]
    for n in (2, 3):
        for i in range(len(words) - n + 1):
            gram = words[i : i + n]
            first, last = gram[0], gram[-1]
            if first in stops and first not in KEPT_STOP_WORDS or last in stops:
                continue
            if any(w not in not_alone for w in gram):
                out.append(" ".join(gram))
    return out


def review_terms(
    texts: Sequence[str],
    min_df: int = 3,
    max_features: int = 30_000,
    also_generic: frozenset[str] = frozenset(),
) -> tuple[Any, np.ndarray]:
    """(reviews x terms binary CSR matrix, the terms): :func:`review_analyzer`'s terms, counted
    once a review; the ``max_features`` most frequent of those in ``min_df`` reviews or more."""
    from sklearn.feature_extraction.text import CountVectorizer

    vectorizer = CountVectorizer(
        analyzer=functools.partial(review_analyzer, also_generic=also_generic),
        binary=True,
        min_df=min(min_df, max(1, len(texts))),
        max_features=max_features,
        dtype=np.float64,
    )
    matrix = vectorizer.fit_transform(list(texts)).tocsr()
    return matrix, vectorizer.get_feature_names_out()


def log_odds_z(
    positive: np.ndarray, negative: np.ndarray, background: np.ndarray, strength: float
) -> np.ndarray:
    """z-scores of the log-odds ratio with an informative Dirichlet prior (Monroe et al. 2008).

    ``positive`` and ``negative`` are term counts, one row per group (or one vector);
    ``background`` the counts the prior is proportional to (same shape, or one row for all),
    scaled to ``strength`` pseudo-counts (at most the group's own count). Positive z: the term
    leans positive.
    """
    pos = np.atleast_2d(np.asarray(positive, dtype=np.float64))
    neg = np.atleast_2d(np.asarray(negative, dtype=np.float64))
    back = np.atleast_2d(np.asarray(background, dtype=np.float64)) + 1e-3
    n_pos, n_neg = pos.sum(axis=1, keepdims=True), neg.sum(axis=1, keepdims=True)
    # never more pseudo-counts than the group has counts: a small group is pulled, not erased
    pseudo = np.minimum(strength, np.maximum(n_pos + n_neg, 1.0))
    alpha = pseudo * back / back.sum(axis=1, keepdims=True)
    alpha0 = alpha.sum(axis=1, keepdims=True)
    pos_odds = np.log(pos + alpha) - np.log(n_pos + alpha0 - pos - alpha)
    neg_odds = np.log(neg + alpha) - np.log(n_neg + alpha0 - neg - alpha)
    variance = 1.0 / (pos + alpha) + 1.0 / (neg + alpha)
    return (pos_odds - neg_odds) / np.sqrt(variance)


def _listed(
    z: np.ndarray, counts: np.ndarray, terms: np.ndarray, k: int, sign: int
) -> list[dict[str, Any]]:
    """The top ``k`` terms of one side: ``|z| >= MIN_Z`` in ``sign``'s direction, enough uses."""
    score = sign * z
    eligible = np.flatnonzero((score >= MIN_Z) & (counts >= MIN_TERM_REVIEWS))
    top = eligible[np.lexsort((terms[eligible], -score[eligible]))][:k]
    return [
        {"term": str(terms[i]), "z": round(float(z[i]), 3), "n_reviews": int(counts[i])}
        for i in top
    ]


def contrast_terms(
    matrix: Any,
    terms: np.ndarray,
    is_positive: np.ndarray,
    groups: Sequence[Any] | None = None,
    background: dict[Any, np.ndarray] | np.ndarray | None = None,
    k: int = 10,
    min_reviews: int = 1,
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Praise (positive-leaning) and complaint terms of each group, or of all reviews.

    ``is_positive`` is 1, 0 or NaN (neutral: counted in no side) per review; ``groups`` the
    group of each review (None: one group ``"all"``); ``background`` the prior's counts, one
    vector for every group or a vector per group (default: the counts of all reviews). Groups
    with fewer than ``min_reviews`` labelled reviews are left out.
    """
    import scipy.sparse as sp

    labels = np.asarray(is_positive, dtype=np.float64)
    names = np.array(["all"] * matrix.shape[0] if groups is None else [str(g) for g in groups])
    everything = np.asarray(matrix.sum(axis=0)).ravel()
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    keys, index = np.unique(names, return_inverse=True)
    labelled = ~np.isnan(labels)
    kept = [
        g for g in range(len(keys)) if int((labelled & (index == g)).sum()) >= max(min_reviews, 1)
    ]
    for start in range(0, len(kept), 200):
        chunk = kept[start : start + 200]
        position = {g: i for i, g in enumerate(chunk)}
        rows = np.array([position.get(g, -1) for g in index])

        def side(mask: np.ndarray, rows: np.ndarray = rows, size: int = len(chunk)) -> np.ndarray:
            take = mask & (rows >= 0)
            assign = sp.csr_matrix(
                (np.ones(int(take.sum())), (rows[take], np.flatnonzero(take))),
                shape=(size, matrix.shape[0]),
            )
            return np.asarray((assign @ matrix).todense())

        pos, neg = side(labelled & (labels == 1)), side(labelled & (labels == 0))
        if isinstance(background, dict):
            back = np.vstack([background.get(keys[g], everything) for g in chunk])
        else:
            back = everything if background is None else np.asarray(background)
        z = log_odds_z(pos, neg, back, PRIOR_STRENGTH)
        for g, i in position.items():
            out[str(keys[g])] = {
                "praise": _listed(z[i], pos[i], terms, k, +1),
                "complaints": _listed(z[i], neg[i], terms, k, -1),
            }
    return out


def mine_terms(reviews: pd.DataFrame, k: int = 10) -> dict[str, Any]:
    """Praise and complaint terms overall, per category and per product.

    ``reviews`` has ``text``, ``is_positive`` (1, 0 or null) and ``product_id``, and
    optionally ``title`` and ``category``. Products need ``MIN_PRODUCT_REVIEWS`` labelled
    reviews; their background is their category's counts (all reviews without a category).
    """
    texts = model_texts(reviews["text"], reviews.get("title"))
    names = reviews["category"] if "category" in reviews.columns else []
    matrix, terms = review_terms(texts, also_generic=category_words(names))
    if matrix.shape[1] == 0:
        return {"overall": {"praise": [], "complaints": []}, "by_category": {}, "by_product": {}}
    labels = pd.to_numeric(reviews["is_positive"], errors="coerce").to_numpy(dtype=np.float64)
    overall = contrast_terms(matrix, terms, labels, k=k)["all"]
    categories = (
        reviews["category"].fillna("").astype(str).to_numpy()
        if "category" in reviews.columns
        else np.array([""] * len(reviews))
    )
    by_category = contrast_terms(matrix, terms, labels, categories, k=k, min_reviews=1)
    by_category.pop("", None)
    category_counts = {
        c: np.asarray(matrix[categories == c].sum(axis=0)).ravel()
        for c in np.unique(categories)
        if c
    }
    product_category = pd.Series(categories).groupby(reviews["product_id"].astype(str).to_numpy())
    product_background = {
        product: category_counts.get(cats.mode().iloc[0]) for product, cats in product_category
    }
    by_product = contrast_terms(
        matrix,
        terms,
        labels,
        reviews["product_id"].astype(str).to_numpy(),
        {p: b for p, b in product_background.items() if b is not None},
        k=k,
        min_reviews=MIN_PRODUCT_REVIEWS,
    )
    return {"overall": overall, "by_category": by_category, "by_product": by_product}


def topics(
    texts: Sequence[str],
    ratings: Sequence[float],
    n_topics: int = 8,
    n_terms: int = 10,
    seed: int = 42,
) -> list[dict[str, Any]]:
    """NMF topics over every review: top terms, reviews dominated, mean rating, positive share.

    Fewer topics than asked when the corpus is small (at least 20 reviews a topic).
    """
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = list(texts)
    k = max(1, min(n_topics, len(texts) // 20))
    if len(texts) < 20:
        return []
    vectorizer = TfidfVectorizer(
        analyzer=review_analyzer,
        min_df=3,
        max_df=0.5,
        max_features=20_000,
        sublinear_tf=True,
    )
    x = vectorizer.fit_transform(texts)
    if x.shape[1] < k:
        return []
    nmf = NMF(n_components=k, init="nndsvda", random_state=seed, max_iter=400)
    weights = nmf.fit_transform(x)
    terms = vectorizer.get_feature_names_out()
    dominant = np.where(weights.sum(axis=1) > 0, weights.argmax(axis=1), -1)
    rating = np.asarray(ratings, dtype=np.float64)
    out = []
    for topic in range(k):
        members = dominant == topic
        rated = rating[members]
        labelled = rated[rated != 3]
        out.append(
            {
                "topic": topic,
                "terms": [str(terms[i]) for i in np.argsort(-nmf.components_[topic])[:n_terms]],
                "n_reviews": int(members.sum()),
                "share": round(float(members.mean()), 4),
                "mean_rating": round(float(rated.mean()), 3) if len(rated) else None,
                "positive_share": round(float((labelled >= 4).mean()), 4)
                if len(labelled)
                else None,
            }
        )
    return sorted(out, key=lambda t: -t["n_reviews"])


def model_texts(texts: Sequence[Any], titles: Sequence[Any] | None = None) -> list[str]:
    """What a model reads of each review: ``"<title>. <text>"``, or the text alone.

    The title is a strong signal ("Disappointed", "Love it!") when there is one; the text alone
    is what a caller without a title sends, and what about a sixth of the clothing reviews have.
    """
    out = []
    titles = [None] * len(texts) if titles is None else list(titles)
    for text, title in zip(texts, titles, strict=True):
        body = "" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text)
        head = "" if title is None or (isinstance(title, float) and np.isnan(title)) else str(title)
        head = head.strip()
        out.append(f"{head}. {body}" if head else body)
    return out
