"""Top-k ranking metrics for recommenders, one definition used by training, gate and bench.

Relevance is binary (an item is relevant when the user bought it in the hold-out). Every metric
is computed per user and averaged over users that have at least one relevant item, so users with
nothing to find neither help nor hurt a model.

- precision@k = hits in the top k / k
- recall@k = hits in the top k / number of relevant items
- NDCG@k = DCG / ideal DCG, gain 1 / log2(rank + 1), ideal = min(k, |relevant|) hits on top
- MAP@k = mean over users of (sum of precision@i at each hit rank i <= k) / min(k, |relevant|)
- coverage@k = distinct items recommended to anyone / catalogue size
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence

import numpy as np


def _hits(recommended: Sequence[Hashable], relevant: set[Hashable], k: int) -> np.ndarray:
    """0/1 array over the first k recommendations (duplicates count once, at their first rank)."""
    seen: set[Hashable] = set()
    out = np.zeros(min(k, len(recommended)), dtype=float)
    for i, item in enumerate(recommended[:k]):
        if item in relevant and item not in seen:
            out[i] = 1.0
        seen.add(item)
    return out


def precision_at_k(recommended: Sequence[Hashable], relevant: Iterable[Hashable], k: int) -> float:
    """Share of the k slots filled with relevant items (empty slots count as misses)."""
    if k <= 0:
        raise ValueError("k must be positive")
    return float(_hits(recommended, set(relevant), k).sum() / k)


def recall_at_k(recommended: Sequence[Hashable], relevant: Iterable[Hashable], k: int) -> float:
    """Share of the relevant items found in the top k; 0 when there is nothing relevant."""
    rel = set(relevant)
    if not rel:
        return 0.0
    return float(_hits(recommended, rel, k).sum() / len(rel))


def ndcg_at_k(recommended: Sequence[Hashable], relevant: Iterable[Hashable], k: int) -> float:
    """Binary-gain NDCG@k; 0 when there is nothing relevant."""
    rel = set(relevant)
    if not rel:
        return 0.0
    hits = _hits(recommended, rel, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = float((hits * discounts[: len(hits)]).sum())
    idcg = float(discounts[: min(k, len(rel))].sum())
    return dcg / idcg


def average_precision_at_k(
    recommended: Sequence[Hashable], relevant: Iterable[Hashable], k: int
) -> float:
    """AP@k normalised by min(k, |relevant|), so a perfect list scores 1."""
    rel = set(relevant)
    if not rel:
        return 0.0
    hits = _hits(recommended, rel, k)
    if not hits.any():
        return 0.0
    precisions = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precisions * hits).sum() / min(k, len(rel)))


def catalog_coverage(
    recommendations: Iterable[Sequence[Hashable]], catalog_size: int, k: int
) -> float:
    """Distinct items appearing in anyone's top k, as a share of the catalogue."""
    if catalog_size <= 0:
        return 0.0
    items: set[Hashable] = set()
    for recs in recommendations:
        items.update(recs[:k])
    return len(items) / catalog_size


def topk_per_user(
    recommendations: Mapping[Hashable, Sequence[Hashable]],
    relevant: Mapping[Hashable, Iterable[Hashable]],
    k: int,
) -> tuple[list[Hashable], dict[str, np.ndarray]]:
    """(users with a relevant item, in ``relevant``'s order; precision/recall/NDCG/MAP@k each).

    The per-user values are what :func:`evaluate_topk` averages and what the promotion gate
    resamples; users without a recommendation list score zero.
    """
    users = [u for u, items in relevant.items() if len(set(items)) > 0]
    if not users:
        raise ValueError("no user has a relevant item: nothing to evaluate")
    if k <= 0:
        raise ValueError("k must be positive")
    values = {name: np.zeros(len(users)) for name in ("precision", "recall", "ndcg", "map")}
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)
    ranks = np.arange(1, k + 1)
    for i, user in enumerate(users):
        # One hits array per user, each metric as its function above defines it.
        rel = set(relevant[user])
        hits = _hits(list(recommendations.get(user, ())), rel, k)
        found = hits.sum()
        n = len(hits)
        values["precision"][i] = found / k
        values["recall"][i] = found / len(rel)
        values["ndcg"][i] = (hits * discounts[:n]).sum() / ideal[min(k, len(rel)) - 1]
        if found:
            precisions = np.cumsum(hits) / ranks[:n]
            values["map"][i] = (precisions * hits).sum() / min(k, len(rel))
    return users, values


def evaluate_topk(
    recommendations: Mapping[Hashable, Sequence[Hashable]],
    relevant: Mapping[Hashable, Iterable[Hashable]],
    k: int,
    catalog_size: int,
) -> dict[str, float]:
    """Mean precision/recall/NDCG/MAP@k over users with relevant items, and coverage@k.

    Users in ``relevant`` without a recommendation list score zero; coverage counts the lists
    of the evaluated users only. Keys are ``precision@k`` etc. with k written out.
    """
    users, values = topk_per_user(recommendations, relevant, k)
    out = {f"{name}_at_{k}": float(v.mean()) for name, v in values.items()}
    lists = [list(recommendations.get(user, ())) for user in users]
    out[f"coverage_at_{k}"] = catalog_coverage(lists, catalog_size, k)
    out["n_users"] = float(len(users))
    return out
