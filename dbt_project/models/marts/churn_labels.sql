-- Churn label per (customer, snapshot): 1 if the customer has no purchase in
-- [snapshot_at, snapshot_at + churn_horizon_days), else 0. Only snapshots whose whole horizon
-- lies inside the data get a label, and only customers with a purchase before the snapshot
-- (someone who never bought cannot stop buying).
-- Beside the label, the customer's buy-till-you-die statistics as of the snapshot, from the
-- purchase days strictly before it (the day before the snapshot is the last one seen): the
-- inputs of the BG/NBD baseline the churn model is compared with. Snapshots fall at midnight,
-- so "before the snapshot" is the same for order times and for purchase days.

with

features as (

    select customer_id, snapshot_at from {{ ref('customer_features') }}

),

snapshots as (

    select snapshot_at, is_latest from {{ ref('int_snapshots_generated') }}

),

purchase_days as (

    select customer_id, purchase_day from {{ ref('customer_purchase_days') }}

),

labelled_snapshots as (

    select
        features.customer_id,
        features.snapshot_at,
        cast(features.snapshot_at as date) as snapshot_day
    from features
    cross join (select snapshot_at as data_end_at from snapshots where is_latest) as bounds
    where features.snapshot_at + {{ days_interval(var('churn_horizon_days')) }}
        <= bounds.data_end_at

),

history as (

    select
        labelled_snapshots.customer_id,
        labelled_snapshots.snapshot_at,
        count(*) - 1 as repeat_days,
        {{ days_between('min(purchase_days.purchase_day)', 'max(purchase_days.purchase_day)') }}
            as recency_days,
        {{ days_between('min(purchase_days.purchase_day)', 'labelled_snapshots.snapshot_day - 1') }}
            as age_days
    from labelled_snapshots
    inner join purchase_days
        on labelled_snapshots.customer_id = purchase_days.customer_id
        and purchase_days.purchase_day < labelled_snapshots.snapshot_day
    group by
        labelled_snapshots.customer_id,
        labelled_snapshots.snapshot_at,
        labelled_snapshots.snapshot_day

),

future as (

    select
        labelled_snapshots.customer_id,
        labelled_snapshots.snapshot_at,
        count(*) as n_purchase_days
    from labelled_snapshots
    inner join purchase_days
        on labelled_snapshots.customer_id = purchase_days.customer_id
        and purchase_days.purchase_day >= labelled_snapshots.snapshot_day
        and purchase_days.purchase_day
            < labelled_snapshots.snapshot_day + {{ var('churn_horizon_days') }}
    group by labelled_snapshots.customer_id, labelled_snapshots.snapshot_at

),

final as (

    select
        ---------- keys
        history.customer_id,
        history.snapshot_at,

        ---------- label
        cast(coalesce(future.n_purchase_days, 0) = 0 as integer) as label,
        cast({{ var('churn_horizon_days') }} as integer) as horizon_days,

        ---------- BG/NBD statistics as of the snapshot (days)
        cast(history.repeat_days as bigint) as btyd_frequency,
        cast(history.recency_days as double) as btyd_recency_days,
        cast(history.age_days as double) as btyd_age_days

    from history
    left join future
        on history.customer_id = future.customer_id
        and history.snapshot_at = future.snapshot_at

)

select * from final
