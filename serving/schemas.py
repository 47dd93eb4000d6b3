"""Request and response models of the Mercato HTTP API.

They are the API's documentation as much as its validation: every field has a description and an
example, so the OpenAPI page that BentoML generates explains itself. Validation is strict (a
string is not a number, a number is not a boolean) and rejects NaN and infinities, so a bad value
is refused with a 400 naming the field instead of reaching a model. Identifiers may be sent as
JSON numbers (``17850``) or strings (``"17850"``); they are handled as strings.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from mercato.names import customer_id_text

#: Most ids a batch request may carry; larger batches are refused with a 400.
MAX_BATCH = 1000
#: Most recommendations or similar items one request may ask for.
MAX_K = 100


def _id_to_text(value: Any) -> Any:
    """Accept ids as JSON numbers as well as strings: ``17850`` and ``17850.0`` -> ``"17850"``.

    The rule is ``mercato.names.customer_id_text``, the one every layer uses; what it cannot
    read as an id (a boolean, a fraction, an empty string) is left for validation to refuse.
    """
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        return value
    if isinstance(value, int | float | str):
        text = customer_id_text(value)
        return value if text is None else text
    return value


_ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"

CustomerId = Annotated[
    str,
    BeforeValidator(_id_to_text),
    Field(
        min_length=1,
        max_length=64,
        pattern=_ID_PATTERN,
        description="Customer id as in the order data (integer text; a JSON number is accepted).",
        examples=["17850"],
    ),
]
StockCode = Annotated[
    str,
    BeforeValidator(_id_to_text),
    Field(
        min_length=1,
        max_length=64,
        pattern=_ID_PATTERN,
        description="Product stock code as in the order data.",
        examples=["85123A"],
    ),
]
TopK = Annotated[
    int, Field(ge=1, le=MAX_K, description=f"How many items to return (1 to {MAX_K}).")
]


class _Request(BaseModel):
    """Strict, closed requests: unknown fields and non-finite numbers are refused."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class _Response(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)


# -- building blocks -----------------------------------------------------------------------------
class ScoredItem(_Response):
    """One recommended or similar product."""

    stock_code: str = Field(description="Product stock code.", examples=["85123A"])
    score: float = Field(
        description="The model's score; higher is better. Comparable only within one list.",
        examples=[0.82],
    )
    description: str | None = Field(
        default=None,
        description="The product's description (its name); null if the model has no text.",
        examples=["WHITE HANGING HEART T-LIGHT HOLDER"],
    )


#: What ``method`` says in recommendation answers.
METHOD_DESCRIPTION = (
    "The method that answered: the served algorithm (ease, rp3beta, itemknn, userknn_cosine, "
    "userknn_pearson, content, hybrid), content (the product text, where the algorithm has "
    "nothing learned to say) or popularity (the cold-start answer)."
)


class CustomerFeatures(_Request):
    """The customer features the propensity model reads (Feast view ``customer_rfm_stats``)."""

    recency_days: float = Field(ge=0, description="Days since the last order.", examples=[12.0])
    frequency: float = Field(ge=0, description="Distinct non-cancelled invoices.", examples=[7])
    monetary: float = Field(description="Net spend after cancellations.", examples=[1450.5])
    tenure_days: float = Field(ge=0, description="Days since the first order.", examples=[300.0])
    avg_basket_value: float = Field(description="Mean spend per invoice.", examples=[207.2])
    return_rate: float = Field(
        ge=0, le=1, description="Cancelled lines / all lines, 0 to 1.", examples=[0.02]
    )
    n_distinct_products: float = Field(ge=0, description="Distinct products bought.", examples=[45])
    is_uk: int = Field(
        ge=0, le=1, description="1 if the customer is in the UK, else 0.", examples=[1]
    )


# -- recommendations -----------------------------------------------------------------------------
class RecommendRequest(_Request):
    """Recommendations for one customer."""

    customer_id: CustomerId
    k: TopK = 10
    exclude_bought: bool = Field(
        default=True, description="Leave out products the customer has already bought."
    )


class RecommendResponse(_Response):
    """Top-k products for a customer; unknown customers get the most popular products."""

    customer_id: str = Field(description="The customer asked about.", examples=["17850"])
    items: list[ScoredItem] = Field(description="Recommended products, best first.")
    cold_start: bool = Field(
        description=(
            "True when the customer has no purchase history in the model: the items are then "
            "the most popular products (the documented cold-start default), not personal picks."
        )
    )
    method: str = Field(description=METHOD_DESCRIPTION, examples=["ease"])
    model_version: str = Field(
        description="Registry version of mercato_recommender that answered.", examples=["3"]
    )


class _CustomerBatchRequest(_Request):
    """Fields shared by every request about many customers at once."""

    customer_ids: list[CustomerId] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"1 to {MAX_BATCH} customer ids."
    )


class RecommendBatchRequest(_CustomerBatchRequest):
    """Recommendations for many customers at once."""

    k: TopK = 10
    exclude_bought: bool = Field(
        default=True, description="Leave out products each customer has already bought."
    )


class RecommendBatchResponse(_Response):
    results: list[RecommendResponse] = Field(description="One answer per id, in request order.")
    model_version: str = Field(description="Registry version of mercato_recommender.")


# -- similar items -------------------------------------------------------------------------------
class SimilarItemsRequest(_Request):
    """Products most often bought with one product."""

    stock_code: StockCode
    k: TopK = 10


class SimilarItemsResponse(_Response):
    stock_code: str = Field(description="The product asked about.", examples=["85123A"])
    items: list[ScoredItem] = Field(description="Most similar products, best first.")
    method: str = Field(description=METHOD_DESCRIPTION, examples=["ease"])
    model_version: str = Field(description="Registry version of mercato_recommender.")


class SimilarItemsBatchRequest(_Request):
    stock_codes: list[StockCode] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"1 to {MAX_BATCH} stock codes."
    )
    k: TopK = 10


class SimilarItemsBatchEntry(_Response):
    stock_code: str = Field(description="The product asked about.")
    found: bool = Field(
        description="False when the product is not in the catalogue (then ``items`` is empty)."
    )
    items: list[ScoredItem] = Field(description="Most similar products, best first.")
    method: str | None = Field(
        default=None, description=METHOD_DESCRIPTION + " Null for an unknown product."
    )


class SimilarItemsBatchResponse(_Response):
    results: list[SimilarItemsBatchEntry] = Field(description="One entry per code, in order.")
    model_version: str = Field(description="Registry version of mercato_recommender.")


# -- segments ------------------------------------------------------------------------------------
class SegmentRequest(_Request):
    """The segment of one customer, from their features in the online store."""

    customer_id: CustomerId


class SegmentResponse(_Response):
    customer_id: str = Field(description="The customer asked about.", examples=["17850"])
    known_customer: bool = Field(
        description=(
            "False when the online store has no features for the customer (a new or unknown "
            "customer): ``segment`` and ``profile`` are then null, the documented default."
        )
    )
    segment: int | None = Field(description="Segment id.", examples=[2])
    profile: dict[str, Any] | None = Field(
        description="The segment's profile as trained: name, size and typical feature values.",
    )
    model_version: str = Field(description="Registry version of mercato_segmentation.")


class SegmentBatchRequest(_CustomerBatchRequest):
    """Segments of many customers at once."""


class SegmentBatchResponse(_Response):
    results: list[SegmentResponse] = Field(description="One answer per id, in request order.")
    model_version: str = Field(description="Registry version of mercato_segmentation.")


# -- propensity ----------------------------------------------------------------------------------
class PropensityRequest(_Request):
    """Purchase propensity of one customer, from their features in the online store."""

    customer_id: CustomerId


class PropensityResponse(_Response):
    customer_id: str = Field(description="The customer asked about.", examples=["17850"])
    known_customer: bool = Field(
        description=(
            "False when the online store has no features for the customer: ``probability`` is "
            "then null, the documented default (no history, no estimate)."
        )
    )
    probability: float | None = Field(
        ge=0,
        le=1,
        description="Probability of an order within the propensity horizon.",
        examples=[0.63],
    )
    model_version: str = Field(description="Registry version of mercato_propensity.")


class PropensityBatchRequest(_CustomerBatchRequest):
    """Purchase propensities of many customers at once."""


class PropensityBatchResponse(_Response):
    results: list[PropensityResponse] = Field(description="One answer per id, in order.")
    model_version: str = Field(description="Registry version of mercato_propensity.")


class PropensityFeaturesRequest(_Request):
    """Purchase propensity for features given by the caller (what-if or offline customers)."""

    features: CustomerFeatures


class PropensityFeaturesResponse(_Response):
    probability: float = Field(
        ge=0, le=1, description="Probability of an order within the horizon.", examples=[0.63]
    )
    model_version: str = Field(description="Registry version of mercato_propensity.")


class PropensityFeaturesBatchRequest(_Request):
    rows: list[CustomerFeatures] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"1 to {MAX_BATCH} feature rows."
    )


class PropensityFeaturesBatchResponse(_Response):
    probabilities: list[float] = Field(description="One probability per row, in order.")
    model_version: str = Field(description="Registry version of mercato_propensity.")


# -- model info ----------------------------------------------------------------------------------
class ModelInfoRequest(_Request):
    """No parameters (an empty JSON object)."""


class ServedModel(_Response):
    name: str = Field(description="Registered model name.", examples=["mercato_recommender"])
    version: str | None = Field(description="Version served; null when there is no champion.")
    alias: str = Field(description="The registry alias the service follows.", examples=["champion"])
    loaded_at: str | None = Field(description="When this version was loaded (UTC, ISO 8601).")
    details: dict[str, Any] = Field(
        default_factory=dict, description="Model facts useful to a caller (e.g. algorithm)."
    )


class ModelInfoResponse(_Response):
    models: list[ServedModel] = Field(description="One entry per model family.")
    tracking_uri: str = Field(description="MLflow registry the service reads.")
    poll_seconds: float = Field(description="How often the service checks the alias.")
    last_checked_at: str | None = Field(description="Last alias check (UTC, ISO 8601).")
    worker_pid: int = Field(
        description="Process id of the worker that answered: the service runs "
        "MERCATO_SERVE_WORKERS of them, each following the alias on its own.",
        examples=[4242],
    )


class ErrorResponse(BaseModel):
    """The body of every error the service itself answers (4xx and 503)."""

    error: str = Field(description="What went wrong, in words.")
    field: str | None = Field(default=None, description="The request field at fault, if any.")
    detail: list[dict[str, Any]] | None = Field(
        default=None,
        description="400 only: every validation error, as pydantic lists them (loc, msg, type).",
    )
