"""Frames the model tests train on, read from the marts of a warehouse where dbt has run.

The cleaning rules (cancellations, prices, stock codes, snapshots, labels) live in
``dbt_project/`` only: tests take what the marts hold, never a second copy of them in pandas.
"""

from __future__ import annotations

import pandas as pd

from mercato.settings import Settings


def mart_snapshots(settings: Settings) -> pd.DataFrame:
    """Every (customer, snapshot) of mart ``customer_features`` with its propensity label.

    Columns: ``customer_id``, ``event_timestamp`` (the snapshot), the features, ``label`` (0 for
    snapshots whose horizon is not complete yet) and ``horizon_complete`` (the snapshot has a
    row in mart ``propensity_labels``). A plain join on the snapshot: what the feature store's
    point-in-time join returns for entities timed at a snapshot, without starting Feast.
    """
    import duckdb

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        frame = con.execute(
            """
            select
                features.* exclude (snapshot_at),
                features.snapshot_at as event_timestamp,
                coalesce(labels.label, 0) as label,
                labels.label is not null as horizon_complete
            from main.customer_features as features
            left join main.propensity_labels as labels
                on features.customer_id = labels.customer_id
                and features.snapshot_at = labels.snapshot_at
            order by features.snapshot_at, features.customer_id
            """
        ).df()
    frame["customer_id"] = frame["customer_id"].astype(str)
    return frame


def labelled(snapshots: pd.DataFrame) -> pd.DataFrame:
    """The snapshots of :func:`mart_snapshots` whose label horizon is complete."""
    return snapshots[snapshots["horizon_complete"]].reset_index(drop=True)
