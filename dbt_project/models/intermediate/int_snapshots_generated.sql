-- Snapshot dates for point-in-time features: every `snapshot_every_days` days, counted back
-- from the day after the last order (the "as of now" snapshot), down to the first one after the
-- first order. A feature row at snapshot_at only sees lines with ordered_at < snapshot_at.

with

order_lines as (

    select * from {{ ref('int_order_lines_filtered') }}

),

bounds as (

    select
        min(ordered_at) as first_ordered_at,
        date_trunc('day', max(ordered_at)) + interval 1 day as last_snapshot_at
    from order_lines

),

spine as (

    -- every snapshot_every_days days back from the last snapshot, all after the first order
    select spine.snapshot_at
    from {{ descending_day_spine(
        'last_snapshot_at', 'first_ordered_at', var('snapshot_every_days'), 'bounds'
    ) }} as spine
    cross join bounds
    where spine.snapshot_at > bounds.first_ordered_at

),

final as (

    select
        cast(snapshot_at as timestamp) as snapshot_at,
        snapshot_at = max(snapshot_at) over () as is_latest
    from spine

)

select * from final
