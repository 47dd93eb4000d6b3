"""The compact reference profile a family logs with its training run, for drift monitoring.

A profile is plain JSON (``reference_profile.json`` in the run's artifacts): where the model's
inputs live in the warehouse (a feature mart and its snapshot column), and for each input and
for the model's output either a seeded sample of at most :data:`SAMPLE_SIZE` values (numeric:
enough for quantile bins and the two-sample KS test) or the share of each category. The
monitor (``monitoring``) reads it from the champion's run and compares the latest snapshot
with it. Building it is cheap and needs only NumPy and pandas.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mercato.settings import Settings

#: The artifact's name in the training run.
PROFILE_ARTIFACT = "reference_profile.json"
#: Values kept per numeric column: quantiles to about 1/200 and a KS test of useful power.
SAMPLE_SIZE = 2000
#: A column with at most this many distinct values (and marked categorical) keeps its shares.
MAX_CATEGORIES = 50


def column_profile(values: pd.Series, categorical: bool, seed: int = 0) -> dict[str, Any]:
    """One column's reference: ``{"kind": "numeric", "sample": [...]}`` or
    ``{"kind": "categorical", "shares": {value: share}}`` (missing values dropped, counted)."""
    present = values.dropna()
    missing = float(1 - len(present) / len(values)) if len(values) else 0.0
    if categorical:
        shares = present.astype(str).value_counts(normalize=True).head(MAX_CATEGORIES)
        return {
            "kind": "categorical",
            "shares": {str(k): float(v) for k, v in shares.items()},
            "n": len(values),
            "missing": missing,
        }
    x = present.astype(float).to_numpy()
    if len(x) > SAMPLE_SIZE:
        x = np.random.default_rng(seed).choice(x, SAMPLE_SIZE, replace=False)
    return {"kind": "numeric", "sample": np.sort(x).tolist(), "n": len(values), "missing": missing}


def build_profile(
    frame: pd.DataFrame,
    features: Sequence[str],
    scores: Sequence[float] | np.ndarray | pd.Series,
    *,
    source: str,
    time_column: str,
    categorical: Sequence[str] = (),
    score_categorical: bool = False,
    seed: int = 0,
) -> dict[str, Any]:
    """The reference profile of a model trained on ``frame[features]`` that output ``scores``.

    ``source`` is the mart whose latest ``time_column`` snapshot holds the same inputs at
    serving time.
    """
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise ValueError(f"reference profile: columns {missing} are not in the training frame")
    return {
        "source": source,
        "time_column": time_column,
        "features": {
            f: column_profile(frame[f], f in categorical, seed + n) for n, f in enumerate(features)
        },
        "score": column_profile(pd.Series(np.asarray(scores)), score_categorical, seed),
        "n_rows": len(frame),
    }


def score_frame(model: Any, frame: pd.DataFrame) -> np.ndarray:
    """The served model's output on ``frame``: the first column of its pyfunc ``predict``
    (propensity's probability, churn's risk, segmentation's segment id)."""
    out = model.predict(None, frame.reset_index(drop=True))
    return np.asarray(out.iloc[:, 0])


#: The feature mart the customer models read at serving time, and its snapshot column.
CUSTOMER_SOURCE = ("customer_features", "snapshot_at")


def latest_snapshot(settings: Settings, source: str, time_column: str) -> pd.DataFrame | None:
    """Every row of the newest snapshot of mart ``source`` (None: the mart is not built)."""
    from warehouse import reader

    return reader.query_if_built(
        settings,
        f'select * from main."{source}" where "{time_column}" = '
        f'(select max("{time_column}") from main."{source}") order by customer_id',
    )


def snapshot_profile(
    model: Any,
    settings: Settings,
    *,
    categorical: Sequence[str] = ("is_uk",),
    score_categorical: bool = False,
    seed: int = 0,
) -> dict[str, Any] | None:
    """The profile of a customer model over the newest snapshot of mart ``customer_features``
    when it was trained: inputs are ``model.feature_names``, the score is its output.

    The population at training time, not every training snapshot, is the reference: tenure and
    recency grow with the shop's age, so a profile over a year of (or even the last labelled)
    snapshots would call every new snapshot drifted; the drift that matters is what changed
    since the champion was trained, and retraining resets it. ``None`` when the warehouse has
    no such mart (a model trained on data passed in directly): nothing to monitor against.
    """
    source, time_column = CUSTOMER_SOURCE
    rows = latest_snapshot(settings, source, time_column)
    if rows is None or rows.empty:
        return None
    names = list(model.feature_names)
    return {
        **build_profile(
            rows,
            names,
            score_frame(model, rows[names]),
            source=source,
            time_column=time_column,
            categorical=[c for c in categorical if c in names],
            score_categorical=score_categorical,
            seed=seed,
        ),
        "snapshot_at": str(pd.Timestamp(rows[time_column].iloc[0])) if len(rows) else None,
    }
