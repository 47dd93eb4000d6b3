"""Basket endpoints: products frequently bought together (``mercato_basket_rules``).

``/frequently_bought_together`` takes the products of a basket (one product or several) and
answers the association rules that apply to it, best lift first: the rule's products on each
side, each with its name, and its lift, confidence, support and conviction. A product the
catalogue does not know gets 404 naming it; an empty basket gets 400. The batch form answers
``found: false`` with the unknown codes for such a basket instead of failing the whole batch.

The request and response models live here, beside their only handlers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from models.basket import MODEL_NAME
from serving.apis import Endpoint
from serving.core import MercatoCore, NotFound
from serving.schemas import MAX_BATCH, StockCode, TopK, _Request, _Response

REQUIRES = ("frequently_bought_together", "known_product", "describe")
#: Most products one basket may hold in a request.
MAX_BASKET = 200


def _not_empty(codes: list[str]) -> list[str]:
    if not codes:
        raise ValueError("the basket is empty: send at least one product stock code")
    return codes


Basket = Annotated[
    list[StockCode],
    AfterValidator(_not_empty),
    Field(
        max_length=MAX_BASKET,
        description=f"The products in the basket (1 to {MAX_BASKET} stock codes).",
        examples=[["22386", "85099B"]],
        json_schema_extra={"minItems": 1},
    ),
]


class Product(_Response):
    """A product of a rule, with its name."""

    stock_code: str = Field(description="Product stock code.", examples=["85099B"])
    description: str | None = Field(
        description="The product's name (its most frequent description in the orders).",
        examples=["JUMBO BAG RED RETROSPOT"],
    )


class BasketRule(_Response):
    """One association rule: baskets holding ``antecedents`` often hold ``consequents`` too."""

    antecedents: list[Product] = Field(description="The products the rule starts from.")
    consequents: list[Product] = Field(description="The products suggested with them.")
    lift: float = Field(
        description=(
            "How many times more often the products are bought together than if they were "
            "unrelated (1 = no association)."
        ),
        examples=[8.4],
    )
    confidence: float = Field(
        ge=0,
        le=1,
        description="Share of the baskets holding the antecedents that also hold the consequents.",
        examples=[0.62],
    )
    support: float = Field(
        ge=0,
        le=1,
        description="Share of all baskets holding every product of the rule.",
        examples=[0.03],
    )
    conviction: float | None = Field(
        description=(
            "(1 - support of the consequents) / (1 - confidence); null when confidence is 1 "
            "(infinite: the consequents never miss)."
        ),
        examples=[2.6],
    )
    n_baskets: int = Field(description="Baskets holding every product of the rule.", examples=[512])


class FrequentlyBoughtTogetherRequest(_Request):
    """Rules for the products of one basket."""

    stock_codes: Basket
    k: TopK = 10


class FrequentlyBoughtTogetherResponse(_Response):
    stock_codes: list[str] = Field(description="The basket asked about.")
    rules: list[BasketRule] = Field(
        description=(
            "Rules whose antecedents are all in the basket and whose consequents are not, best "
            "lift first; empty when no rule applies (a known product with no strong partner)."
        )
    )
    model_version: str = Field(description="Registry version of mercato_basket_rules.")


class FrequentlyBoughtTogetherBatchRequest(_Request):
    """Rules for many baskets at once."""

    baskets: list[Basket] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"1 to {MAX_BATCH} baskets."
    )
    k: TopK = 10


class FrequentlyBoughtTogetherBatchEntry(_Response):
    stock_codes: list[str] = Field(description="The basket asked about.")
    found: bool = Field(
        description="False when a product is not in the catalogue (then ``rules`` is empty)."
    )
    unknown_products: list[str] = Field(description="The codes the catalogue does not know.")
    rules: list[BasketRule] = Field(description="Rules that apply to the basket, best lift first.")


class FrequentlyBoughtTogetherBatchResponse(_Response):
    results: list[FrequentlyBoughtTogetherBatchEntry] = Field(
        description="One entry per basket, in request order."
    )
    model_version: str = Field(description="Registry version of mercato_basket_rules.")


def prepare(model: Any) -> dict[str, Any]:
    """Facts for ``/model_info``."""
    return {
        "details": {
            "n_rules": len(model.rules),
            "n_products": len(model.items),
            **{k: v for k, v in dict(getattr(model, "params", {})).items() if v is not None},
        }
    }


def _products(model: Any, codes: Sequence[str]) -> list[Product]:
    return [Product(stock_code=c, description=model.describe(c)) for c in codes]


def _rules(model: Any, codes: Sequence[str], k: int) -> list[BasketRule]:
    return [
        BasketRule(
            antecedents=_products(model, r.antecedents),
            consequents=_products(model, r.consequents),
            lift=r.lift,
            confidence=r.confidence,
            support=r.support,
            conviction=r.conviction if math.isfinite(r.conviction) else None,
            n_baskets=r.n_baskets,
        )
        for r in model.frequently_bought_together(list(codes), k=k)
    ]


def _unknown(model: Any, codes: Sequence[str]) -> list[str]:
    return [c for c in dict.fromkeys(codes) if not model.known_product(c)]


def frequently_bought_together(
    core: MercatoCore, req: FrequentlyBoughtTogetherRequest
) -> FrequentlyBoughtTogetherResponse:
    m = core.model(MODEL_NAME)
    unknown = _unknown(m.model, req.stock_codes)
    if unknown:
        raise NotFound(
            f"unknown product(s) {', '.join(map(repr, unknown))}: not in the catalogue of "
            f"{MODEL_NAME} v{m.version} (no basket held them)",
            field="stock_codes",
        )
    return FrequentlyBoughtTogetherResponse(
        stock_codes=req.stock_codes,
        rules=_rules(m.model, req.stock_codes, req.k),
        model_version=m.version,
    )


def frequently_bought_together_batch(
    core: MercatoCore, req: FrequentlyBoughtTogetherBatchRequest
) -> FrequentlyBoughtTogetherBatchResponse:
    m = core.model(MODEL_NAME)
    results = []
    for codes in req.baskets:
        unknown = _unknown(m.model, codes)
        results.append(
            FrequentlyBoughtTogetherBatchEntry(
                stock_codes=codes,
                found=not unknown,
                unknown_products=unknown,
                rules=[] if unknown else _rules(m.model, codes, req.k),
            )
        )
    return FrequentlyBoughtTogetherBatchResponse(results=results, model_version=m.version)


def _basket(core: MercatoCore) -> list[str]:
    """A basket with rules in the served model: the antecedent of its best one-product rule."""
    model = core.model(MODEL_NAME).model
    return [model.example_product() or str(model.items[0])]


ENDPOINTS = [
    Endpoint(
        "frequently_bought_together",
        FrequentlyBoughtTogetherRequest,
        FrequentlyBoughtTogetherResponse,
        frequently_bought_together,
        "Products frequently bought with a basket's products: rules with lift and confidence",
        example=lambda core: {"stock_codes": _basket(core), "k": 5},
    ),
    Endpoint(
        "frequently_bought_together_batch",
        FrequentlyBoughtTogetherBatchRequest,
        FrequentlyBoughtTogetherBatchResponse,
        frequently_bought_together_batch,
        f"Frequently bought together for up to {MAX_BATCH:,} baskets (found=false for unknown)",
        example=lambda core: {"baskets": [_basket(core), ["NO-SUCH-PRODUCT"]], "k": 3},
    ),
]
