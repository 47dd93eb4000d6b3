"""Make a loaded model forget customers: the per-customer lookups it answers from.

A model version registered before a customer was forgotten still holds them (MLflow keeps its
artifacts as they were logged). ``models.registry.load_version`` therefore applies the data
home's suppression list (``mercato.privacy``) to every version it loads, and the running
service applies a new erasure to the versions it serves (``serving.champions``): whatever the
version, a forgotten customer is answered as an unknown one. The next retrain, on data without
the customer, produces versions that never knew them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mercato.settings import Settings

#: How served models look customers up: (id -> row dict, row -> id array) attribute pairs. The
#: recommender (``models.pyfunc``), the customer-value model and the uplift model use them.
CUSTOMER_LOOKUPS = (("_user_index", "user_ids"), ("_index", "customer_ids"))
#: What a forgotten customer's entry in a model's id array becomes.
FORGOTTEN = "[erased]"


def forget_in_model(model: Any, match: Callable[[str], bool]) -> int:
    """Drop every customer ``match`` accepts from a loaded model's per-customer lookups.

    The id leaves the lookup dict (so the model answers as for an unknown customer) and its
    entry in the id array becomes ``FORGOTTEN`` (so no example or audience shows it). Each
    attribute is replaced by a new object in one assignment: a request in flight sees the old
    lookup or the new one, never a half-edited one. Returns the number of ids dropped.
    """
    dropped = 0
    for index_name, ids_name in CUSTOMER_LOOKUPS:
        index = getattr(model, index_name, None)
        ids = getattr(model, ids_name, None)
        if not isinstance(index, dict) or ids is None:
            continue
        gone = {key for key in index if match(str(key))}
        if not gone:
            continue
        rows = [index[key] for key in gone]
        setattr(model, index_name, {k: v for k, v in index.items() if k not in gone})
        new_ids = np.array(ids, dtype=object, copy=True)
        new_ids[rows] = FORGOTTEN
        setattr(model, ids_name, new_ids)
        dropped += len(gone)
    return dropped


def suppressed_matcher(settings: Settings) -> Callable[[str], bool] | None:
    """True for an id on the home's suppression list; None when nobody was forgotten."""
    from mercato.privacy import Pseudonymizer, suppressed

    gone = suppressed(settings.home)
    if not gone:
        return None
    pseudo = Pseudonymizer(settings.home)
    return lambda value: pseudo(value) in gone
