"""Ad response endpoints: click and conversion probability of an impression (mercato_ad_response).

``/ad_response`` scores one impression from its context (campaign, creative, placement,
device and the optional os, country, time and viewer); ``/ad_response_batch`` scores up to
``MAX_BATCH`` candidate impressions, e.g. every creative for one ad slot. A value the model
never saw (a new creative) adds nothing of its own; the rest of the context still counts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from models.ad_response import MODEL_NAME
from serving.apis import Endpoint
from serving.core import MercatoCore
from serving.schemas import MAX_BATCH

REQUIRES = ("predict_rows", "predict_proba")

Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class _Response(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)


class Impression(_Request):
    """The context of one ad impression."""

    impression_id: str | None = Field(default=None, max_length=128, description="Echoed back.")
    campaign: Name = Field(description="Campaign name.", examples=["retarget"])
    creative: Name = Field(description="Creative (ad variant) id.", examples=["retarget-v2"])
    placement: Name = Field(description="Where the ad is shown.", examples=["search_top"])
    device: Name = Field(description="desktop, mobile, tablet...", examples=["mobile"])
    os: Name | None = Field(default=None, description="Operating system.", examples=["ios"])
    country: Name | None = Field(default=None, description="Viewer's country.", examples=["GB"])
    shown_at: str | None = Field(
        default=None,
        description="When the ad is shown (ISO 8601); gives the hour and weekday.",
        examples=["2026-11-20T20:15:00"],
    )
    customer_id: str | None = Field(
        default=None, max_length=64, description="The viewer when a known customer."
    )


class AdResponseResponse(_Response):
    impression_id: str | None = Field(description="As sent.")
    click_probability: float = Field(ge=0, le=1, description="P(click).", examples=[0.04])
    conversion_probability: float | None = Field(
        ge=0, le=1, description="P(conversion) of the impression; null if not modelled."
    )
    model_version: str = Field(description="Registry version of mercato_ad_response.")


class AdResponseBatchRequest(_Request):
    impressions: list[Impression] = Field(
        min_length=1, max_length=MAX_BATCH, description=f"1 to {MAX_BATCH} impressions."
    )


class AdResponseBatchResponse(_Response):
    results: list[AdResponseResponse] = Field(description="One answer per impression, in order.")
    model_version: str = Field(description="Registry version of mercato_ad_response.")


def _context(imp: Impression, index: int | None = None) -> dict[str, Any]:
    from serving.core import ServingError

    row: dict[str, Any] = imp.model_dump(exclude={"impression_id", "shown_at", "customer_id"})
    row["is_known_customer"] = imp.customer_id is not None
    if imp.shown_at is not None:
        where = "shown_at" if index is None else f"impressions.{index}.shown_at"
        try:
            shown = datetime.fromisoformat(imp.shown_at)
        except ValueError:
            raise ServingError(
                f"invalid request: {where}: {imp.shown_at!r} is not an ISO 8601 time", where
            ) from None
        row["hour_of_day"] = shown.hour
        row["day_of_week"] = shown.isoweekday()
    return row


def _answers(core: MercatoCore, impressions: list[Impression], batch: bool):
    m = core.model(MODEL_NAME)
    rows = [_context(imp, i if batch else None) for i, imp in enumerate(impressions)]
    p = m.model.predict_rows(rows)
    conversion = p.get("conversion")
    return m, [
        AdResponseResponse(
            impression_id=imp.impression_id,
            click_probability=float(p["click"][i]),
            conversion_probability=None if conversion is None else float(conversion[i]),
            model_version=m.version,
        )
        for i, imp in enumerate(impressions)
    ]


def ad_response(core: MercatoCore, req: Impression) -> AdResponseResponse:
    return _answers(core, [req], batch=False)[1][0]


def ad_response_batch(core: MercatoCore, req: AdResponseBatchRequest) -> AdResponseBatchResponse:
    m, results = _answers(core, req.impressions, batch=True)
    return AdResponseBatchResponse(results=results, model_version=m.version)


EXAMPLE_IMPRESSION = {
    "impression_id": "imp-1",
    "campaign": "retarget",
    "creative": "retarget-v2",
    "placement": "search_top",
    "device": "mobile",
    "os": "ios",
    "country": "GB",
    "shown_at": "2026-11-20T20:15:00",
}

ENDPOINTS = [
    Endpoint(
        "ad_response",
        Impression,
        AdResponseResponse,
        ad_response,
        "Probability that an ad impression is clicked, and that it converts",
        example=EXAMPLE_IMPRESSION,
    ),
    Endpoint(
        "ad_response_batch",
        AdResponseBatchRequest,
        AdResponseBatchResponse,
        ad_response_batch,
        f"Click and conversion probability of up to {MAX_BATCH:,} impressions",
        example={
            "impressions": [
                EXAMPLE_IMPRESSION,
                {**EXAMPLE_IMPRESSION, "impression_id": "imp-2", "placement": "sidebar"},
            ]
        },
    ),
]
