"""Sentiment endpoints: review text -> P(positive), and per-product review insight
(``mercato_sentiment``).

``/sentiment`` and ``/sentiment_batch`` score texts a caller sends (a review, a support
message, a survey answer): the probability that it is positive, its label (``positive`` at or
above the model's threshold of 0.5, else ``negative``), the terms that drove it (what each word
or two-word phrase of the text adds to its log-odds in the linear model, strongest first, the
ones that pushed it up and the ones that pushed it down; ``terms: 0`` leaves them out) and the
version that answered.
``/product_reviews`` answers what the reviews of one product say: their count, mean rating,
rating-derived sentiment shares and trend (mart ``product_review_stats``), and the terms its
positive reviews praise and its negative reviews complain about (``models.text_mining``), as of
the served version's training. A product without reviews in that version gets 404 naming it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from models.sentiment import MODEL_NAME
from serving.apis import Endpoint
from serving.core import MercatoCore, NotFound
from serving.schemas import MAX_BATCH
from warehouse.sources.reviews import MAX_TEXT_CHARS

REQUIRES = ("predict_proba_many", "explain_many", "product_insight", "known_product", "label")
#: Most terms of each side one request may ask for (the model keeps 10 a product).
MAX_TERMS = 10
#: Most driving terms of each sign one scored text may ask for, and the default.
MAX_DRIVERS = 20
DEFAULT_DRIVERS = 5

EXAMPLE_TEXT = "Love this dress: the fabric is soft and it fits perfectly."


def _filled(value: str) -> str:
    if not value.strip():
        raise ValueError("the text is empty or whitespace only")
    return value


def _id_text(value: Any) -> Any:
    """Product ids may be sent as JSON integers (``767``) or strings; handled as strings."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


ReviewText = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_TEXT_CHARS,
        description=f"The text to score: 1 to {MAX_TEXT_CHARS:,} characters, not only spaces.",
        examples=[EXAMPLE_TEXT],
    ),
    AfterValidator(_filled),
]
ProductId = Annotated[
    str,
    BeforeValidator(_id_text),
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="Product id as in the reviews (a JSON integer is accepted).",
        examples=["1078"],
    ),
]


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class _Response(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)


def _drivers_field() -> Any:
    return Field(
        default=DEFAULT_DRIVERS,
        ge=0,
        le=MAX_DRIVERS,
        description=f"Driving terms of each sign to return per text (0 to {MAX_DRIVERS}; 0: none).",
    )


class SentimentRequest(_Request):
    """One text to score, with its title when it is a review that has one."""

    text: ReviewText
    title: str | None = Field(
        default=None,
        max_length=500,
        description="The review's headline, if any (the model reads 'title. text').",
        examples=["Perfect fit"],
    )
    terms: int = _drivers_field()


class TermWeight(_Response):
    """One term of the text and what it added to the text's log-odds of being positive."""

    term: str = Field(
        description="A word or two-word phrase as the model reads it (lower case).",
        examples=["fits perfectly"],
    )
    weight: float = Field(
        description="Its contribution to the log-odds: TF-IDF value times coefficient, the "
        "character n-grams of the word included. All terms' weights plus the model's intercept "
        "sum to the text's log-odds.",
        examples=[0.82],
    )


class SentimentScore(_Response):
    probability_positive: float = Field(
        ge=0, le=1, description="Calibrated probability that the text is positive.", examples=[0.97]
    )
    label: Literal["positive", "negative"] = Field(
        description="positive when the probability is at least 0.5, else negative."
    )
    positive_terms: list[TermWeight] = Field(
        description="The terms that pushed the text towards positive, strongest first."
    )
    negative_terms: list[TermWeight] = Field(
        description="The terms that pushed the text towards negative, strongest first "
        "(negative weights)."
    )


class SentimentResponse(SentimentScore):
    model_version: str = Field(
        description="Registry version of mercato_sentiment that answered.", examples=["1"]
    )


class SentimentBatchRequest(_Request):
    texts: list[ReviewText] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"1 to {MAX_BATCH:,} texts to score."
    )
    terms: int = _drivers_field()


class SentimentBatchResponse(_Response):
    results: list[SentimentScore] = Field(description="One score per text, in request order.")
    model_version: str = Field(description="Registry version of mercato_sentiment that answered.")


class ProductReviewsRequest(_Request):
    product_id: ProductId
    k: int = Field(
        default=5, ge=1, le=MAX_TERMS, description=f"Terms of each side (1 to {MAX_TERMS})."
    )


class Term(_Response):
    term: str = Field(description="A word or two-word phrase.", examples=["runs small"])
    z: float = Field(
        description="Log-odds z-score: positive leans to praise, negative to complaint."
    )
    n_reviews: int = Field(description="Reviews of that side that use it.")


class ProductReviewsResponse(_Response):
    """What the reviews of one product say, as of the served version's training."""

    product_id: str
    category: str | None = Field(description="The category most of its reviews name.")
    n_reviews: int = Field(description="Valid reviews of the product.")
    mean_rating: float | None = Field(description="Mean stars, 1 to 5.")
    positive_share: float | None = Field(description="Share of 4-5 star reviews.")
    neutral_share: float | None = Field(description="Share of 3-star reviews.")
    negative_share: float | None = Field(description="Share of 1-2 star reviews.")
    recommended_share: float | None = Field(
        description="Share of reviewers who recommend it (null when the reviews do not say)."
    )
    rating_trend_per_30d: float | None = Field(
        description="Change of the rating in stars per 30 days (null without dated reviews)."
    )
    praise: list[Term] = Field(description="What its positive reviews praise, strongest first.")
    complaints: list[Term] = Field(
        description="What its negative reviews complain about, strongest first."
    )
    model_version: str = Field(description="Registry version of mercato_sentiment that answered.")


def prepare(model: Any) -> dict[str, Any]:
    """Facts for ``/model_info``; builds the model's explainer once, so that the first request
    asking for terms does not pay for it."""
    model.explain_many(["warm-up"], k=1)
    return {
        "details": {
            "n_products": len(getattr(model, "insights", {})),
            "threshold": float(getattr(model, "threshold", 0.5)),
        }
    }


def _weights(found: list[tuple[str, float]]) -> list[TermWeight]:
    return [TermWeight(term=t, weight=round(float(w), 6)) for t, w in found]


def _scores(model: Any, texts: list[str], titles: list[str | None], k: int) -> list[SentimentScore]:
    p = model.predict_proba_many(texts, titles)
    empty: dict[str, list] = {"positive": [], "negative": []}
    drivers = model.explain_many(texts, titles, k=k) if k else [empty] * len(texts)
    return [
        SentimentScore(
            probability_positive=float(v),
            label=model.label(float(v)),
            positive_terms=_weights(d["positive"]),
            negative_terms=_weights(d["negative"]),
        )
        for v, d in zip(p, drivers, strict=True)
    ]


def sentiment(core: MercatoCore, req: SentimentRequest) -> SentimentResponse:
    m = core.model(MODEL_NAME)
    score = _scores(m.model, [req.text], [req.title], req.terms)[0]
    return SentimentResponse(**score.model_dump(), model_version=m.version)


def sentiment_batch(core: MercatoCore, req: SentimentBatchRequest) -> SentimentBatchResponse:
    m = core.model(MODEL_NAME)
    results = _scores(m.model, list(req.texts), [None] * len(req.texts), req.terms)
    return SentimentBatchResponse(results=results, model_version=m.version)


def product_reviews(core: MercatoCore, req: ProductReviewsRequest) -> ProductReviewsResponse:
    m = core.model(MODEL_NAME)
    try:
        insight = m.model.product_insight(req.product_id)
    except KeyError:
        raise NotFound(
            f"unknown product {req.product_id!r}: {MODEL_NAME} v{m.version} has no reviews of it",
            field="product_id",
        ) from None
    fields = {
        name: insight.get(name)
        for name in ProductReviewsResponse.model_fields
        if name not in ("product_id", "praise", "complaints", "model_version")
    }
    return ProductReviewsResponse(
        product_id=req.product_id,
        **fields,
        praise=[Term(**t) for t in insight.get("praise", [])[: req.k]],
        complaints=[Term(**t) for t in insight.get("complaints", [])[: req.k]],
        model_version=m.version,
    )


def _served_example(body: dict[str, Any]) -> Any:
    """An example shown only while a sentiment model is served (else it could not answer)."""

    def example(core: MercatoCore) -> dict[str, Any]:
        core.model(MODEL_NAME)
        return body

    return example


def _reviewed_product(core: MercatoCore) -> dict[str, Any]:
    """The served model's most reviewed product."""
    insights = core.model(MODEL_NAME).model.insights
    product = max(sorted(insights), key=lambda p: insights[p].get("n_reviews") or 0)
    return {"product_id": product, "k": 5}


ENDPOINTS = [
    Endpoint(
        "sentiment",
        SentimentRequest,
        SentimentResponse,
        sentiment,
        "Probability that a text is positive, with its label",
        example=_served_example({"text": EXAMPLE_TEXT}),
    ),
    Endpoint(
        "sentiment_batch",
        SentimentBatchRequest,
        SentimentBatchResponse,
        sentiment_batch,
        f"Sentiment of up to {MAX_BATCH:,} texts",
        is_async=False,
        example=_served_example(
            {"texts": [EXAMPLE_TEXT, "Cheap fabric and it runs small, returned it."]}
        ),
    ),
    Endpoint(
        "product_reviews",
        ProductReviewsRequest,
        ProductReviewsResponse,
        product_reviews,
        "What a product's reviews say: statistics, praise and complaints (404 if none)",
        example=_reviewed_product,
    ),
]
