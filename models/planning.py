"""Campaign planning: whom to send a campaign to, within a budget, for the most incremental profit.

Every candidate (each customer the uplift champion knows) gets, for each of the campaign's
treated arms, ``profit = uplift x value - cost per contact``; their best arm is the one they
would be sent. With one cost per contact, the best audience under a budget is the customers of
highest positive profit, as many as ``budget // cost`` buys (a greedy choice that is optimal
for equal costs). ``value`` is the value of a conversion the caller gives, or each customer's
CLV from the ``clv`` family's champion when there is one (``ClvModel.values_many``; a customer
it does not know gets its new-customer value).

**The interval.** The point estimate of incremental conversions is the sum of the audience's
predicted uplifts. The uplift champion carries, per campaign, the ratio of *realised* to
predicted incremental conversions among the top-ranked share of its hold-out, with a 90 %
bootstrap interval over the hold-out's customers (``models.uplift.plan_calibration``); the
interval of the plan is the prediction scaled by that interval at the audience's share of the
candidates. It therefore includes the model's own over- or under-confidence, not only chance.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mercato.settings import Settings


class PlanRefused(ValueError):
    """A plan that cannot be made as asked (the message says why and what to do)."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


@dataclass
class Plan:
    """What a plan chose and expects."""

    campaign: str
    budget: float
    cost_per_contact: float
    value_source: str
    n_candidates: int
    n_contacts: int
    spent: float
    expected_conversions: float
    conversions_low: float
    conversions_high: float
    expected_profit: float
    profit_low: float
    profit_high: float
    model_version: str = ""
    #: (customer_id, treatment, expected uplift, value, expected profit), best first
    audience: list[tuple[str, str, float, float, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Everything but the audience rows."""
        out = asdict(self)
        out.pop("audience")
        return out

    def write_audience(self, path: Path) -> Path:
        """The audience as CSV: customer_id, treatment, expected_uplift, value, expected_profit."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                ["customer_id", "treatment", "expected_uplift", "value", "expected_profit"]
            )
            for cid, arm, uplift, value, profit in self.audience:
                writer.writerow([cid, arm, f"{uplift:.6f}", f"{value:.2f}", f"{profit:.4f}"])
        return path


def _interval_ratio(model: Any, campaign: str, share: float) -> tuple[float, float]:
    """(low, high) of realised / predicted at the nearest tabulated share; (1, 1) without one."""
    table = getattr(model, "calibration", {}).get(campaign)
    if not table:
        return 1.0, 1.0
    fractions = np.asarray(table["fractions"])
    j = int(np.argmin(np.abs(fractions - share)))
    low, high = table["low"][j], table["high"][j]
    if not (np.isfinite(low) and np.isfinite(high)):
        return 1.0, 1.0
    return float(low), float(high)


def customer_values(
    customer_ids: np.ndarray, value_per_conversion: float | None, clv_model: Any = None
) -> tuple[np.ndarray, str]:
    """The value of a conversion per candidate, and where it came from."""
    if value_per_conversion is not None:
        return np.full(len(customer_ids), float(value_per_conversion)), "value_per_conversion"
    if clv_model is None:
        raise PlanRefused(
            "no value per conversion given and no clv champion to value customers by: pass "
            "--value-per-conversion (value_per_conversion), or train the clv family",
            field="value_per_conversion",
        )
    values = clv_model.values_many([str(c) for c in customer_ids])
    default = float(getattr(clv_model, "new_customer", {}).get("clv", 0.0))
    return np.array([default if v is None else float(v["clv"]) for v in values]), "clv"


def plan_campaign(
    model: Any,
    campaign: str,
    budget: float,
    cost_per_contact: float,
    value_per_conversion: float | None = None,
    clv_model: Any = None,
    model_version: str = "",
) -> Plan:
    """The audience of ``campaign`` that maximises expected incremental profit under ``budget``.

    Raises :class:`PlanRefused`: a cost or value that is not a positive number, a budget below
    one contact, or an unknown campaign (``status`` 404).
    """
    for name, value in (("cost_per_contact", cost_per_contact), ("budget", budget)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise PlanRefused(f"{name} must be a positive number, got {value!r}", field=name)
    if value_per_conversion is not None and not (
        math.isfinite(value_per_conversion) and value_per_conversion > 0
    ):
        raise PlanRefused(
            f"value_per_conversion must be a positive number, got {value_per_conversion!r}",
            field="value_per_conversion",
        )
    if budget < cost_per_contact:
        raise PlanRefused(
            f"a budget of {budget:g} buys no contact at {cost_per_contact:g} per contact: "
            "raise the budget to at least one contact's cost",
            field="budget",
        )
    if campaign not in model.campaigns:
        raise PlanRefused(
            f"unknown campaign {campaign!r}; the uplift champion knows "
            f"{', '.join(model.campaigns) or 'none'}",
            field="campaign",
            status=404,
        )
    treatments = model.treatments(campaign)
    ids = model.customer_ids
    uplift = model.uplift_matrix(campaign, np.arange(len(ids)))
    values, source = customer_values(ids, value_per_conversion, clv_model)
    profit = uplift * values[:, None] - cost_per_contact
    best = np.argmax(profit, axis=1)
    rows = np.arange(len(ids))
    best_profit = profit[rows, best]
    if hasattr(model, "known_customer"):
        # A forgotten customer's row stays in the arrays but is no longer known: never chosen.
        known = np.fromiter((model.known_customer(str(c)) for c in ids), bool, len(ids))
        best_profit = np.where(known, best_profit, -np.inf)
    best_uplift = uplift[rows, best]
    capacity = int(budget // cost_per_contact)
    order = np.lexsort((ids.astype(str), -best_profit))
    chosen = [i for i in order if best_profit[i] > 0][:capacity]
    notes = []
    if not chosen:
        notes.append(
            "no customer's expected incremental value exceeds the cost per contact: sending "
            "to anyone is expected to lose money, so the audience is empty"
        )
    elif len(chosen) < capacity:
        notes.append(
            f"only {len(chosen)} customers are expected to be profitable; the rest of the "
            "budget is better not spent"
        )
    chosen_arr = np.array(chosen, dtype=int)
    conversions = float(best_uplift[chosen_arr].sum()) if chosen else 0.0
    gain = float((best_uplift[chosen_arr] * values[chosen_arr]).sum()) if chosen else 0.0
    spent = len(chosen) * cost_per_contact
    low, high = _interval_ratio(model, campaign, len(chosen) / max(len(ids), 1))
    return Plan(
        campaign=campaign,
        budget=float(budget),
        cost_per_contact=float(cost_per_contact),
        value_source=source,
        n_candidates=len(ids),
        n_contacts=len(chosen),
        spent=float(spent),
        expected_conversions=conversions,
        conversions_low=conversions * low,
        conversions_high=conversions * high,
        expected_profit=gain - spent,
        profit_low=gain * low - spent,
        profit_high=gain * high - spent,
        model_version=model_version,
        audience=[
            (
                str(ids[i]),
                treatments[best[i]],
                float(best_uplift[i]),
                float(values[i]),
                float(best_profit[i]),
            )
            for i in chosen
        ],
        notes=notes,
    )


def plan_from_registry(
    settings: Settings,
    campaign: str,
    budget: float,
    cost_per_contact: float,
    value_per_conversion: float | None = None,
    out: Path | None = None,
) -> Plan:
    """:func:`plan_campaign` with the uplift champion (and the clv champion, when no value is
    given and it exists) from the registry; writes the audience CSV to ``out`` when given.

    Raises :class:`PlanRefused` when there is no uplift champion.
    """
    from models import registry
    from models.uplift import MODEL_NAME

    version = registry.champion_version(settings, MODEL_NAME)
    if version is None:
        raise PlanRefused(
            f"no champion of {MODEL_NAME} in the registry: deliver a campaign file and run "
            "mercato train uplift (or mercato run) first",
            status=503,
        )
    model = registry.load_version(settings, MODEL_NAME, version)
    clv = None
    if value_per_conversion is None:
        clv_version = registry.champion_version(settings, "mercato_clv")
        if clv_version is not None:
            clv = registry.load_version(settings, "mercato_clv", clv_version)
    plan = plan_campaign(
        model, campaign, budget, cost_per_contact, value_per_conversion, clv, version
    )
    if out is not None:
        plan.write_audience(out)
    return plan
