"""Generated sessions shaped like mart ``fct_sessions``, for model tests without a warehouse."""

from __future__ import annotations

import pandas as pd
from fixed_dates import END_DATE

from warehouse.synthetic_sessions import make_sessions


def mart_like(n: int, seed: int) -> pd.DataFrame:
    """Generated sessions with the column names and types of mart ``fct_sessions``."""
    raw = make_sessions(n, seed=seed, end_date=END_DATE)
    month = raw["Month"].replace({"June": "Jun"})
    return pd.DataFrame(
        {
            "administrative_pages": raw["Administrative"],
            "administrative_seconds": raw["Administrative_Duration"],
            "informational_pages": raw["Informational"],
            "informational_seconds": raw["Informational_Duration"],
            "product_pages": raw["ProductRelated"],
            "product_seconds": raw["ProductRelated_Duration"],
            "bounce_rate": raw["BounceRates"],
            "exit_rate": raw["ExitRates"],
            "page_value": raw["PageValues"],
            "special_day": raw["SpecialDay"],
            "is_weekend": raw["Weekend"] == "TRUE",
            "month": month,
            "visitor_type": raw["VisitorType"],
            "operating_system": raw["OperatingSystems"],
            "browser": raw["Browser"],
            "region": raw["Region"],
            "traffic_type": raw["TrafficType"],
            "label": (raw["Revenue"] == "TRUE").astype(int),
        }
    )
