-- Product popularity as of the latest snapshot (the day after the last order), for Feast.

with

order_lines as (

    select * from {{ ref('int_order_lines_filtered') }}

),

latest_snapshot as (

    select snapshot_at from {{ ref('int_snapshots_generated') }} where is_latest

),

final as (

    select
        order_lines.stock_code,
        latest_snapshot.snapshot_at,
        cast(count(distinct order_lines.customer_id)
            filter (where not order_lines.is_cancellation) as bigint) as n_buyers,
        cast(count(distinct order_lines.invoice_no)
            filter (where not order_lines.is_cancellation) as bigint) as n_orders,
        cast(sum(order_lines.quantity) as bigint) as total_quantity,
        cast({{ exact_sum('order_lines.unit_price') }} as double) / count(*) as avg_unit_price
    from order_lines
    cross join latest_snapshot
    where order_lines.ordered_at < latest_snapshot.snapshot_at
    group by order_lines.stock_code, latest_snapshot.snapshot_at

)

select * from final
