"""The recommendation methods: each turns interactions (and item text) into weight matrices.

Every method ends in one of two shapes that :class:`models.pyfunc.RecommenderModel` serves:

- item-to-item, ``score(user) = history(user) @ W`` with ``W`` items x items: item-kNN, RP3beta,
  EASE, content (TF-IDF cosine of the item text) and the hybrid (a per-item blend of EASE and
  content weights, so an item nobody has bought yet is scored by its text);
- user-to-user, ``score(user) = U(user) @ history`` with ``U`` users x users: user-kNN with
  cosine or Pearson similarity, shrunk towards 0 for users with few items in common.

Every similarity is built block by block and pruned to the top-N per row, so its memory is
``O(block)``, never the square of the catalogue. User-kNN draws each user's neighbours from a
pool of at most :data:`NEIGHBOUR_POOL` users (the ones with most items), so its time grows
with the customers, not with their square. EASE alone needs dense ``items x items``
matrices (a Gram matrix and its inverse); above :data:`DENSE_MAX_ITEMS` items the family
switches EASE (and the hybrid's collaborative part) to item-kNN, which fits at any size.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

#: Largest catalogue EASE is fitted on. EASE holds about three dense float64 items x items
#: arrays at once (the Gram matrix, its inverse, the weights: 24 bytes x n^2): 12,000 items is
#: 3.5 GB. Above it EASE is replaced by item-kNN, whose memory grows with the catalogue only.
DENSE_MAX_ITEMS = 12_000
#: Rows of a similarity computed at once (a block is ``BLOCK_ROWS x n`` float32) ...
BLOCK_ROWS = 2_000
#: ... and fewer where a row is wider than ``BLOCK_CELLS / BLOCK_ROWS`` (user-kNN on many
#: customers), so a block and its float64 temporaries stay near 130 MB each.
BLOCK_CELLS = 16_000_000
#: Most users a user-kNN neighbour is chosen among: above it, the users with most items. The
#: pruned similarity keeps top-N per user anyway, and the heaviest buyers are the neighbours
#: with most to vote with; without the pool, fitting takes users x users time.
NEIGHBOUR_POOL = 20_000

Cache = dict[Hashable, Any]


def cached(cache: Cache | None, key: Hashable, build: Callable[[], Any]) -> Any:
    """``build()`` once per key within one training frame (tuning reuses the costly parts)."""
    if cache is None:
        return build()
    if key not in cache:
        cache[key] = build()
    return cache[key]


def forget_user_weights(cache: Cache) -> None:
    """Drop the user-kNN weights from ``cache``: users x neighbours, they grow with the
    customers, and only the method that built them reads them."""
    for key in [k for k in cache if isinstance(k, tuple) and str(k[0]).startswith("userknn")]:
        del cache[key]


# -- matrices --------------------------------------------------------------------------------
def interaction_matrix(
    train: pd.DataFrame, extra_items: np.ndarray | None = None
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Binary users x items matrix (a purchase is a purchase, whatever the quantity).

    ``extra_items`` (items known from the catalogue's text but not bought yet) become empty
    columns, so a content-based method can still recommend them.
    """
    users, u_idx = np.unique(train["user_id"].to_numpy(dtype=str), return_inverse=True)
    bought = train["item_id"].to_numpy(dtype=str)
    catalogue = bought if extra_items is None else np.concatenate([bought, extra_items])
    items = np.unique(catalogue.astype(str))
    i_idx = np.searchsorted(items, bought)
    x = sp.csr_matrix(
        (np.ones(len(u_idx), dtype=np.float32), (u_idx, i_idx)), shape=(len(users), len(items))
    )
    x.sum_duplicates()
    x.data[:] = 1.0
    return x, users, items


def aligned_matrix(frame: pd.DataFrame, users: np.ndarray, items: np.ndarray) -> sp.csr_matrix:
    """Binary users x items matrix of ``frame``'s pairs on given (sorted) user and item axes."""
    rows = np.searchsorted(users, frame["user_id"].to_numpy(dtype=str))
    cols = np.searchsorted(items, frame["item_id"].to_numpy(dtype=str))
    x = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(users), len(items))
    )
    x.sum_duplicates()
    x.data[:] = 1.0
    return x


def _decay(last: pd.Series, end: pd.Timestamp | None, halflife_days: float | None) -> np.ndarray:
    if halflife_days is None or last.isna().any() or end is None or pd.isna(end):
        return np.ones(len(last), dtype=np.float32)
    age = (end - last).dt.total_seconds().to_numpy() / 86400.0
    return np.power(0.5, age / halflife_days).astype(np.float32)


def history_matrix(
    train: pd.DataFrame,
    users: np.ndarray,
    items: np.ndarray,
    halflife_days: float | None,
    end: pd.Timestamp | None = None,
) -> sp.csr_matrix:
    """Users x items weights 0.5 ** (days since last bought / half-life) at the training end
    (``end``, default the last timestamp of ``train``)."""
    last = train.groupby(["user_id", "item_id"], sort=False)["timestamp"].max()
    weight = _decay(last, train["timestamp"].max() if end is None else end, halflife_days)
    rows = np.searchsorted(users, last.index.get_level_values(0).to_numpy(dtype=str))
    cols = np.searchsorted(items, last.index.get_level_values(1).to_numpy(dtype=str))
    return sp.csr_matrix((weight, (rows, cols)), shape=(len(users), len(items)))


def _top_n_block(block: np.ndarray, n: int, offset: int) -> tuple[np.ndarray, ...]:
    """(rows, cols, values) of the n largest positive entries of each row of ``block``."""
    n = min(n, block.shape[1])
    if n <= 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0, dtype=np.float32)
    cols = np.argpartition(-block, n - 1, axis=1)[:, :n] if n < block.shape[1] else None
    if cols is None:
        cols = np.broadcast_to(np.arange(block.shape[1]), block.shape)
    local = np.repeat(np.arange(block.shape[0]), cols.shape[1])
    vals = block[local, cols.ravel()]
    keep = vals > 0
    return local[keep] + offset, cols.ravel()[keep], vals[keep].astype(np.float32)


def block_rows(width: int) -> int:
    """Rows per block for rows ``width`` wide (:data:`BLOCK_ROWS`, fewer for wide rows)."""
    return max(1, min(BLOCK_ROWS, BLOCK_CELLS // max(width, 1)))


def top_n_rows(
    n_rows: int,
    n_cols: int,
    block: Callable[[int, int], np.ndarray],
    n: int,
    drop_diagonal: bool = True,
    columns: np.ndarray | None = None,
) -> sp.csr_matrix:
    """A sparse matrix keeping the n largest positive entries per row of a dense product.

    ``block(start, stop)`` returns rows ``start:stop`` densely; only one block is in memory.
    With ``columns`` (sorted column indices) a block holds those columns only, and the result
    has non-zeros in them alone (the user-kNN neighbour pool).
    """
    width = n_cols if columns is None else len(columns)
    step = block_rows(width)
    parts: list[tuple[np.ndarray, ...]] = []
    for start in range(0, n_rows, step):
        stop = min(start + step, n_rows)
        dense = np.asarray(block(start, stop), dtype=np.float32)
        if drop_diagonal:
            r = np.arange(start, min(stop, n_cols))
            if columns is None:
                dense[r - start, r] = 0.0
            else:
                at = np.searchsorted(columns, r)
                hit = at < len(columns)
                hit[hit] = columns[at[hit]] == r[hit]
                dense[r[hit] - start, at[hit]] = 0.0
        rows, cols, vals = _top_n_block(dense, n, start)
        parts.append((rows, cols if columns is None else columns[cols], vals))
    rows, cols, vals = (np.concatenate(p) for p in zip(*parts, strict=True))
    return sp.csr_matrix((vals, (rows, cols)), shape=(n_rows, n_cols), dtype=np.float32)


def neighbour_pool(x: sp.csr_matrix, size: int | None = None) -> np.ndarray | None:
    """Sorted indices of the ``size`` (default :data:`NEIGHBOUR_POOL`) users with most items,
    ties to the lower index; ``None`` when every user fits in the pool."""
    limit = NEIGHBOUR_POOL if size is None else int(size)
    n_users = x.shape[0]
    if n_users <= limit:
        return None
    degree = np.diff(sp.csr_matrix(x).indptr)
    return np.sort(np.lexsort((np.arange(n_users), -degree))[:limit])


def _shrink(dot: np.ndarray, shrinkage: float) -> np.ndarray:
    """Factor ``co / (co + shrinkage)``: similarities resting on few co-counts shrink to 0."""
    if shrinkage <= 0:
        return np.ones_like(dot)
    return dot / (dot + shrinkage)


# -- item-to-item ----------------------------------------------------------------------------
def fit_itemknn(x: sp.csr_matrix, n_neighbors: int = 100) -> sp.csr_matrix:
    """Cosine similarity between item columns, top-N neighbours per item."""
    norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel())
    norms[norms == 0] = 1.0
    xt = x.T.tocsr()

    def block(start: int, stop: int) -> np.ndarray:
        co = (xt[start:stop] @ x).toarray()
        return co / norms[start:stop, None] / norms[None, :]

    return top_n_rows(x.shape[1], x.shape[1], block, n_neighbors)


def fit_rp3beta(
    x: sp.csr_matrix, alpha: float = 1.0, beta: float = 0.5, n_neighbors: int = 200
) -> sp.csr_matrix:
    """P(item -> user -> item) ** alpha, divided by target popularity ** beta, top-N per item."""
    user_deg = np.asarray(x.sum(axis=1)).ravel()
    item_deg = np.asarray(x.sum(axis=0)).ravel()
    p_ui = (sp.diags(1.0 / np.maximum(user_deg, 1.0)) @ x).tocsr()
    p_iu = (sp.diags(1.0 / np.maximum(item_deg, 1.0)) @ x.T).tocsr()
    penalty = np.power(np.maximum(item_deg, 1.0), beta)[None, :]

    def block(start: int, stop: int) -> np.ndarray:
        w = (p_iu[start:stop] @ p_ui).toarray()
        if alpha != 1.0:
            w = np.power(w, alpha)
        return w / penalty

    return top_n_rows(x.shape[1], x.shape[1], block, n_neighbors)


def fit_ease(x: sp.csr_matrix, l2: float = 300.0, n_neighbors: int = 300) -> sp.csr_matrix:
    """EASE item weights, pruned to the top-N positive weights per source item.

    Dense in the catalogue size: callers check :data:`DENSE_MAX_ITEMS` (see
    :func:`ease_fits`) and switch to item-kNN above it.
    """
    g = (x.T @ x).toarray().astype(np.float64)
    g[np.diag_indices_from(g)] += l2
    p = np.linalg.inv(g)
    del g
    b = -p / np.diag(p)[None, :]
    del p
    return top_n_rows(b.shape[0], b.shape[1], lambda s, e: b[s:e], n_neighbors)


def ease_fits(n_items: int, max_items: int | None = None) -> bool:
    """Whether EASE's dense items x items matrices fit for this catalogue size."""
    return n_items <= (DENSE_MAX_ITEMS if max_items is None else max_items)


def item_texts(items: pd.DataFrame | None, catalogue: np.ndarray) -> list[str]:
    """The text of every catalogue item ('' where the items frame has none)."""
    if items is None:
        return [""] * len(catalogue)
    text = items.drop_duplicates("item_id").set_index("item_id")["text"]
    return text.reindex(catalogue).fillna("").astype(str).tolist()


def fit_content(
    texts: list[str], n_neighbors: int = 100, ngram_max: int = 2, min_df: int = 1
) -> sp.csr_matrix:
    """TF-IDF (scikit-learn) cosine similarity of the item texts, top-N neighbours per item.

    Word uni- and bigrams with sublinear term frequency: product names are short, so a shared
    rare word ("LANTERN") weighs more than a shared common one ("SET").
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    n = len(texts)
    if not any(t.strip() for t in texts):
        raise ValueError("content-based recommendation needs item text: every text is empty")
    vectorizer = TfidfVectorizer(
        ngram_range=(1, ngram_max), sublinear_tf=True, min_df=min_df, lowercase=True
    )
    tfidf = vectorizer.fit_transform(texts).astype(np.float32).tocsr()  # rows L2-normalised
    tt = tfidf.T.tocsr()
    return top_n_rows(n, n, lambda s, e: (tfidf[s:e] @ tt).toarray(), n_neighbors)


def _mean_row_sum(w: sp.csr_matrix) -> float:
    sums = np.asarray(w.sum(axis=1)).ravel()
    sums = sums[sums > 0]
    return float(sums.mean()) if sums.size else 1.0


def fit_hybrid(
    collaborative: sp.csr_matrix,
    content: sp.csr_matrix,
    buyers: np.ndarray,
    alpha: float = 0.1,
    shrinkage: float = 5.0,
    n_neighbors: int = 300,
) -> sp.csr_matrix:
    """A per-target-item blend of collaborative and content weights.

    Item j's column is ``(1 - a_j) * C[:, j] + a_j * T[:, j]`` with ``a_j = alpha + (1 -
    alpha) * shrinkage / (shrinkage + buyers_j)``: an item nobody has bought yet is scored by its
    text alone (a_j = 1), a best-seller mostly by who bought it (a_j near alpha). Both matrices
    are first scaled to the same mean row sum so that alpha means the same on any data.
    """
    a = alpha + (1.0 - alpha) * shrinkage / (shrinkage + np.asarray(buyers, dtype=np.float64))
    c = collaborative.multiply(1.0 / _mean_row_sum(collaborative))
    t = content.multiply(1.0 / _mean_row_sum(content))
    blend = (sp.csr_matrix(c) @ sp.diags(1.0 - a)) + (sp.csr_matrix(t) @ sp.diags(a))
    blend = sp.csr_matrix(blend, dtype=np.float32)
    return top_n_rows(
        blend.shape[0], blend.shape[1], lambda s, e: blend[s:e].toarray(), n_neighbors
    )


# -- user-to-user ----------------------------------------------------------------------------
def fit_userknn(
    x: sp.csr_matrix,
    similarity: str = "cosine",
    n_neighbors: int = 50,
    shrinkage: float = 10.0,
    pool_size: int | None = None,
) -> sp.csr_matrix:
    """Users x users similarity, top-N neighbours per user, shrunk by co-bought counts.

    ``cosine``: co-bought items / sqrt(items of u x items of v). ``pearson``: the correlation
    of the two users' mean-centred rows over the whole catalogue, which for purchases (0/1) is
    the phi coefficient; a pair counts only where it is positive. Neighbours come from
    :func:`neighbour_pool` (``pool_size``).
    """
    if similarity not in ("cosine", "pearson"):
        raise ValueError(f"unknown user similarity {similarity!r}; use 'cosine' or 'pearson'")
    n_users, n_items = x.shape
    pool = neighbour_pool(x, pool_size)
    them = slice(None) if pool is None else pool
    degree = np.asarray(x.sum(axis=1)).ravel().astype(np.float64)
    xt = x[them].T.tocsr()
    if similarity == "cosine":
        norms = np.sqrt(np.maximum(degree, 1.0))
    else:
        mean = degree / n_items
        std = np.sqrt(np.maximum(mean * (1.0 - mean), 1e-12))

    def block(start: int, stop: int) -> np.ndarray:
        co = (x[start:stop] @ xt).toarray().astype(np.float64)
        if similarity == "cosine":
            sim = co / norms[start:stop, None] / norms[None, them]
        else:
            cov = co / n_items - mean[start:stop, None] * mean[None, them]
            sim = cov / std[start:stop, None] / std[None, them]
        return sim * _shrink(co, shrinkage)

    return top_n_rows(n_users, n_users, block, n_neighbors, columns=pool)


# -- explicit ratings ------------------------------------------------------------------------
def centred_ratings(
    train: pd.DataFrame, users: np.ndarray, items: np.ndarray, halflife_days: float | None
) -> sp.csr_matrix:
    """Users x items ``(rating - the user's mean rating)``, times the recency weight.

    The last rating of each user and item counts. Positive where the user liked the item more
    than they like things on average, negative where less: what user-based Pearson compares and
    what its neighbours vote with. A rating exactly at the user's mean is stored as 0.
    """
    ordered = train.sort_values("timestamp", kind="stable")
    last = ordered.groupby(["user_id", "item_id"], sort=False).agg(
        rating=("rating", "last"), timestamp=("timestamp", "max")
    )
    user = last.index.get_level_values(0).to_numpy(dtype=str)
    mean = last.groupby(level=0)["rating"].transform("mean").to_numpy(dtype=np.float64)
    weight = _decay(last["timestamp"], train["timestamp"].max(), halflife_days)
    values = ((last["rating"].to_numpy(dtype=np.float64) - mean) * weight).astype(np.float32)
    rows = np.searchsorted(users, user)
    cols = np.searchsorted(items, last.index.get_level_values(1).to_numpy(dtype=str))
    out = sp.csr_matrix((values, (rows, cols)), shape=(len(users), len(items)))
    out.eliminate_zeros()
    return out


def fit_userknn_ratings(
    centred: sp.csr_matrix,
    rated: sp.csr_matrix,
    n_neighbors: int = 50,
    shrinkage: float = 10.0,
    pool_size: int | None = None,
) -> sp.csr_matrix:
    """User-based Pearson on explicit ratings: the correlation over the items both users rated.

    ``centred`` holds each user's ratings minus their mean (:func:`centred_ratings`), ``rated``
    (binary) which items each user rated. For users u and v with co-rated items I:
    ``sum_I c_u c_v / sqrt(sum_I c_u^2 * sum_I c_v^2)``, shrunk by ``n / (n + shrinkage)``
    with n = |I|; top-N positive neighbours per user, from :func:`neighbour_pool` of ``rated``.
    """
    c = sp.csr_matrix(centred, dtype=np.float64)
    b = sp.csr_matrix(rated, dtype=np.float64)
    q = c.multiply(c).tocsr()
    pool = neighbour_pool(b, pool_size)
    them = slice(None) if pool is None else pool
    ct, bt, qt = c[them].T.tocsr(), b[them].T.tocsr(), q[them].T.tocsr()

    def block(start: int, stop: int) -> np.ndarray:
        num = (c[start:stop] @ ct).toarray()
        left = (q[start:stop] @ bt).toarray()  # sum over co-rated items of c_u^2
        right = (b[start:stop] @ qt).toarray()  # ... and of c_v^2
        co = (b[start:stop] @ bt).toarray()
        den = np.sqrt(left * right)
        sim = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
        return sim * _shrink(co, shrinkage)

    return top_n_rows(c.shape[0], c.shape[0], block, n_neighbors, columns=pool)
