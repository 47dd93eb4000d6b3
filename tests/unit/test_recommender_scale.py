"""The recommender's bounds for many customers: narrow blocks, the neighbour pool, the tuning
sample. Each must leave the answer as it would be without it, where it does not bind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from models import recommenders as rs
from models.recommendation import tune_candidate, tuning_sample


def _purchases(n_users: int = 300, n_items: int = 40, seed: int = 7) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = rng.random((n_users, n_items)) < rng.uniform(0.02, 0.3, size=(n_users, 1))
    return sp.csr_matrix(dense.astype(np.float32))


@pytest.mark.parametrize("similarity", ["cosine", "pearson"])
def test_narrow_blocks_give_the_same_neighbours(
    monkeypatch: pytest.MonkeyPatch, similarity: str
) -> None:
    x = _purchases()
    wide = rs.fit_userknn(x, similarity, n_neighbors=10, shrinkage=5.0)
    monkeypatch.setattr(rs, "BLOCK_CELLS", 7 * x.shape[0])  # 7 rows a block
    assert rs.block_rows(x.shape[0]) == 7
    narrow = rs.fit_userknn(x, similarity, n_neighbors=10, shrinkage=5.0)
    assert (wide != narrow).nnz == 0


@pytest.mark.parametrize("similarity", ["cosine", "pearson"])
def test_neighbours_come_from_the_pool_of_the_heaviest_buyers(similarity: str) -> None:
    x = _purchases()
    pool = rs.neighbour_pool(x, 50)
    assert pool is not None and len(pool) == 50
    degree = np.diff(x.indptr)
    assert degree[pool].min() >= np.delete(degree, pool).max()  # the 50 with most items
    pooled = rs.fit_userknn(x, similarity, n_neighbors=8, shrinkage=5.0, pool_size=50)
    assert set(pooled.indices) <= set(pool)
    # Each user's neighbours are the top 8 of the whole similarity restricted to the pool.
    full = rs.fit_userknn(x, similarity, n_neighbors=x.shape[0], shrinkage=5.0).toarray()
    for user in (0, int(pool[0]), 151, 299):
        row = np.where(np.isin(np.arange(x.shape[0]), pool), full[user], 0.0)
        row[user] = 0.0
        best = np.sort(row[row > 0])[::-1][:8]
        np.testing.assert_allclose(np.sort(pooled[user].data)[::-1], best, rtol=1e-6)
        assert np.allclose(row[pooled[user].indices], pooled[user].data, rtol=1e-6)
    assert rs.neighbour_pool(x, x.shape[0]) is None
    everyone = rs.fit_userknn(x, similarity, 8, 5.0, pool_size=x.shape[0])
    assert (everyone != rs.fit_userknn(x, similarity, 8, 5.0)).nnz == 0


def test_explicit_ratings_neighbours_come_from_the_pool() -> None:
    rated = _purchases(seed=3)
    centred = rated.multiply(np.random.default_rng(1).normal(size=rated.shape)).tocsr()
    pool = rs.neighbour_pool(rated, 40)
    pooled = rs.fit_userknn_ratings(centred, rated, n_neighbors=6, pool_size=40)
    assert pooled.nnz and set(pooled.indices) <= set(pool)
    everyone = rs.fit_userknn_ratings(centred, rated, n_neighbors=6, pool_size=10_000)
    assert (everyone != rs.fit_userknn_ratings(centred, rated, n_neighbors=6)).nnz == 0


def _lines(n_users: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    rows = []
    for u in range(n_users):
        for _ in range(int(rng.integers(2, 9))):
            day = pd.Timestamp("2011-01-01") + pd.Timedelta(days=int(rng.integers(0, 120)))
            rows.append((f"c{u}", f"p{int(rng.integers(0, 30))}", 1.0, day))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


def test_tuning_runs_on_a_fixed_sample_of_customers() -> None:
    train = _lines()
    sample = tuning_sample(train, 40)
    assert sample["user_id"].nunique() == 40
    assert sample.equals(tuning_sample(train, 40))  # the same customers every time
    whole = train[train["user_id"].isin(set(sample["user_id"]))].reset_index(drop=True)
    assert sample.equals(whole)  # every line of the customers drawn
    assert tuning_sample(train, None) is train and tuning_sample(train, 500) is train
    grid = [{"n_neighbors": 5, "halflife_days": 30.0}, {"n_neighbors": 20, "halflife_days": 30.0}]
    on_sample = tune_candidate("itemknn", train, 30, grid=grid, max_users=40)
    by_hand = tune_candidate("itemknn", sample, 30, grid=grid, max_users=None)
    assert on_sample == by_hand
    assert on_sample[2] != tune_candidate("itemknn", train, 30, grid=grid, max_users=None)[2]
