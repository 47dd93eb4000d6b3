-- Propensity label per (customer, snapshot): 1 if the customer placed a non-cancelled order in
-- [snapshot_at, snapshot_at + horizon_days), else 0. Only snapshots whose whole horizon lies
-- inside the data (snapshot_at + horizon <= the latest snapshot) get a label.

with

features as (

    select customer_id, snapshot_at from {{ ref('customer_features') }}

),

snapshots as (

    select snapshot_at, is_latest from {{ ref('int_snapshots_generated') }}

),

orders as (

    select distinct customer_id, ordered_at
    from {{ ref('int_order_lines_filtered') }}
    where not is_cancellation

),

labelled_snapshots as (

    select features.customer_id, features.snapshot_at
    from features
    cross join (select snapshot_at as data_end_at from snapshots where is_latest) as bounds
    where features.snapshot_at + {{ days_interval(var('horizon_days')) }} <= bounds.data_end_at

),

labelled as (

    select
        labelled_snapshots.customer_id,
        labelled_snapshots.snapshot_at,
        count(orders.ordered_at) > 0 as has_order
    from labelled_snapshots
    left join orders
        on labelled_snapshots.customer_id = orders.customer_id
        and orders.ordered_at >= labelled_snapshots.snapshot_at
        and orders.ordered_at
            < labelled_snapshots.snapshot_at + {{ days_interval(var('horizon_days')) }}
    group by labelled_snapshots.customer_id, labelled_snapshots.snapshot_at

),

final as (

    select
        customer_id,
        snapshot_at,
        cast(has_order as integer) as label,
        cast({{ var('horizon_days') }} as integer) as horizon_days
    from labelled

)

select * from final
