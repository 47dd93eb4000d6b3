"""Administrative endpoints: ``/admin_forget`` erases a customer (GDPR article 17).

Behind the API key like every endpoint, and refused outright (403) when the service runs
without one: an open erasure endpoint would let anyone delete data. The endpoint does what
``mercato forget`` does (``features.forget``: warehouse, online store, every file of the data
home, the erasure log, the suppression list) in the service's own process, then drops the
customer from the lookups of every model being served, so the very next request answers as for
an unknown customer. ``mercato forget`` calls it after its own erasure when a service is
running, for that last step. The answer names the customer by pseudonym only.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from serving import schemas as s
from serving.apis import Endpoint
from serving.core import MercatoCore, ServingError, Unavailable


class Forbidden(ServingError):
    status = 403


class ForgetRequest(s._Request):
    """The customer to forget."""

    customer_id: s.CustomerId


class ForgetResponse(s._Response):
    customer: str = Field(description="The customer's pseudonym (keyed hash), never the id.")
    lines_removed: int = Field(description="Lines removed from the data home by this call.")
    places: list[dict[str, Any]] = Field(description="Each place that lost lines, and how many.")
    retained_until_retrain: list[str] = Field(
        description="Model artifacts that still hold the customer until the next retrain "
        "(never used to answer for them)."
    )
    lookups_dropped: int = Field(description="Entries dropped from the served models' lookups.")


def admin_forget(core: MercatoCore, req: ForgetRequest) -> ForgetResponse:
    from features.forget import forget
    from warehouse.redact import matcher_for_id

    if not core.settings.api_key:
        raise Forbidden(
            "the forget endpoint needs the service to run with an API key (MERCATO_API_KEY); "
            "without one, use the command line: mercato forget CUSTOMER_ID"
        )
    try:
        result = forget(core.settings, req.customer_id)
    except Exception as exc:  # noqa: BLE001 - e.g. the warehouse is locked by a pipeline run
        dropped = core.tracker.forget(matcher_for_id(req.customer_id))
        raise Unavailable(
            f"the erasure could not finish ({type(exc).__name__}: {str(exc)[:200]}); the "
            f"customer is on the suppression list and out of the served models ({dropped} "
            "lookups dropped); retry, a repeat removes what is left"
        ) from exc
    dropped = core.tracker.forget(matcher_for_id(req.customer_id))
    summary = result.summary()
    return ForgetResponse(
        customer=summary["customer"],
        lines_removed=summary["lines_removed"],
        places=summary["places"],
        retained_until_retrain=summary["retained_until_retrain"],
        lookups_dropped=dropped,
    )


ENDPOINTS = [
    Endpoint(
        "admin_forget",
        ForgetRequest,
        ForgetResponse,
        admin_forget,
        "Forget a customer everywhere the data home and the service keep them (admin)",
        is_async=False,
        example={"customer_id": "17850"},
    ),
]
