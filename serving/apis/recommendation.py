"""Recommendation endpoints: products for customers, similar products (``mercato_recommender``).

Unknown customers get the popular items with ``cold_start: true`` (the documented default);
an unknown product gets 404 (``found: false`` in a batch). Every answer says which ``method``
answered (the served algorithm, ``content`` where it falls back on the product text, or
``popularity``), and every item carries its ``description``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from models.recommendation import MODEL_NAME
from serving import schemas as s
from serving.apis import Endpoint
from serving.core import MercatoCore, NotFound

REQUIRES = ("recommend", "similar_items", "known_customer")


def prepare(model: Any) -> dict[str, Any]:
    """Facts for ``/model_info``."""
    return {
        "details": {
            "n_items": len(getattr(model, "item_ids", ())),
            "algorithm": str(getattr(model, "algorithm", "")),
            "content_fallback": getattr(model, "content", None) is not None,
        }
    }


def _items(model: Any, pairs: Sequence[tuple[str, float]]) -> list[s.ScoredItem]:
    describe = getattr(model, "describe", lambda code: None)
    return [
        s.ScoredItem(stock_code=str(code), score=float(score), description=describe(code))
        for code, score in pairs
    ]


def _recommend_one(
    model: Any, version: str, customer_id: str, k: int, exclude_bought: bool
) -> s.RecommendResponse:
    known = model.known_customer(customer_id)
    if hasattr(model, "recommend_explained"):
        pairs, method = model.recommend_explained(customer_id, k=k, exclude_bought=exclude_bought)
    else:  # a version registered before methods were reported
        pairs = model.recommend(customer_id, k=k, exclude_bought=exclude_bought)
        method = getattr(model, "algorithm", "unknown") if known else "popularity"
    return s.RecommendResponse(
        customer_id=customer_id,
        items=_items(model, pairs),
        cold_start=not known,
        method=method,
        model_version=version,
    )


def _similar(model: Any, code: str, k: int) -> tuple[list[tuple[str, float]], str]:
    """(similar items, the method that answered); ``KeyError`` for an unknown product."""
    if hasattr(model, "similar_items_explained"):
        return model.similar_items_explained(code, k=k)
    return model.similar_items(code, k=k), getattr(model, "algorithm", "unknown")


def recommend(core: MercatoCore, req: s.RecommendRequest) -> s.RecommendResponse:
    m = core.model(MODEL_NAME)
    return _recommend_one(m.model, m.version, req.customer_id, req.k, req.exclude_bought)


def recommend_batch(core: MercatoCore, req: s.RecommendBatchRequest) -> s.RecommendBatchResponse:
    m = core.model(MODEL_NAME)
    results = [
        _recommend_one(m.model, m.version, cid, req.k, req.exclude_bought)
        for cid in req.customer_ids
    ]
    return s.RecommendBatchResponse(results=results, model_version=m.version)


def similar_items(core: MercatoCore, req: s.SimilarItemsRequest) -> s.SimilarItemsResponse:
    m = core.model(MODEL_NAME)
    try:
        pairs, method = _similar(m.model, req.stock_code, req.k)
    except KeyError:
        raise NotFound(
            f"unknown product {req.stock_code!r}: it is not in the catalogue of "
            f"{MODEL_NAME} v{m.version}",
            field="stock_code",
        ) from None
    return s.SimilarItemsResponse(
        stock_code=req.stock_code,
        items=_items(m.model, pairs),
        method=method,
        model_version=m.version,
    )


def similar_items_batch(
    core: MercatoCore, req: s.SimilarItemsBatchRequest
) -> s.SimilarItemsBatchResponse:
    m = core.model(MODEL_NAME)
    results = []
    for code in req.stock_codes:
        try:
            pairs, method = _similar(m.model, code, req.k)
            results.append(
                s.SimilarItemsBatchEntry(
                    stock_code=code, found=True, items=_items(m.model, pairs), method=method
                )
            )
        except KeyError:
            results.append(s.SimilarItemsBatchEntry(stock_code=code, found=False, items=[]))
    return s.SimilarItemsBatchResponse(results=results, model_version=m.version)


def _product(core: MercatoCore) -> str:
    """A product in the served catalogue: its most popular one."""
    model = core.model(MODEL_NAME).model
    return str(model.item_ids[int(model.popularity.argmax())])


ENDPOINTS = [
    Endpoint(
        "recommend",
        s.RecommendRequest,
        s.RecommendResponse,
        recommend,
        "Top-k products for a customer (popular products for an unknown one)",
        example=lambda core: {"customer_id": core.example_customer(), "k": 5},
    ),
    Endpoint(
        "recommend_batch",
        s.RecommendBatchRequest,
        s.RecommendBatchResponse,
        recommend_batch,
        f"Top-k products for up to {s.MAX_BATCH:,} customers",
        example=lambda core: {"customer_ids": [core.example_customer(), "0"], "k": 3},
    ),
    Endpoint(
        "similar_items",
        s.SimilarItemsRequest,
        s.SimilarItemsResponse,
        similar_items,
        "Products most often bought with a product (404 for an unknown product)",
        example=lambda core: {"stock_code": _product(core), "k": 5},
    ),
    Endpoint(
        "similar_items_batch",
        s.SimilarItemsBatchRequest,
        s.SimilarItemsBatchResponse,
        similar_items_batch,
        f"Similar products for up to {s.MAX_BATCH:,} products (found=false for unknown ones)",
        example=lambda core: {"stock_codes": [_product(core)], "k": 3},
    ),
]
