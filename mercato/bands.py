"""Age bands: the only form in which Mercato keeps a person's age.

A source that delivers an age (the clothing reviews' ``Age``) has it reduced to its band while
parsing (``warehouse.sources.reviews``), so raw, the marts and every model see ``25-34``, never
``31``: enough for the fairness report per age band (``models.fairness``), and data
minimisation for the rest (GDPR article 5(1)(c)). Standard library only, like all of
``mercato``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from typing import Any

#: Age bands: ``<25``, ``25-34``, ..., ``65+``.
AGE_EDGES = (25, 35, 45, 55, 65)
UNKNOWN = "unknown"
BANDS = (
    f"<{AGE_EDGES[0]}",
    *(f"{lo}-{hi - 1}" for lo, hi in zip(AGE_EDGES[:-1], AGE_EDGES[1:], strict=True)),
    f"{AGE_EDGES[-1]}+",
)


def band_of(value: Any) -> str:
    """The band of one age; ``unknown`` where missing or not a plausible age (0 < age < 120).

    A value that already is a band label (a re-export of our own marts) stays that band.
    """
    if isinstance(value, str):
        text = value.strip()
        if text in BANDS:
            return text
        try:
            value = float(text)
        except ValueError:
            return UNKNOWN
    try:
        age = float(value)
    except (TypeError, ValueError):
        return UNKNOWN
    if not math.isfinite(age) or not 0 < age < 120:
        return UNKNOWN
    return BANDS[bisect.bisect_right(AGE_EDGES, age)]


def bands_of(values: Iterable[Any]) -> list[str]:
    """:func:`band_of` of each value."""
    return [band_of(v) for v in values]
