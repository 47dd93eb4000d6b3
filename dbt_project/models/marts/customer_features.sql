-- RFM-style features per customer at each snapshot, point-in-time correct: the row for
-- snapshot_at uses only lines with ordered_at < snapshot_at. Set-based, no loops: every line is
-- assigned (ASOF join) to the first snapshot after it, activity is summed per (customer, snapshot),
-- and running totals over each customer's snapshots give the features as of that snapshot.
-- A customer appears from the first snapshot after their first line.

with

order_lines as (

    select * from {{ ref('int_order_lines_filtered') }}

),

snapshots as (

    select snapshot_at from {{ ref('int_snapshots_generated') }}

),

customers as (

    select customer_id, is_uk from {{ ref('dim_customers') }}

),

lines_bucketed as (

    {{ lines_in_next_snapshot('order_lines', 'snapshots') }}

),

invoices_bucketed as (

    -- one row per non-cancelled invoice, in the bucket of its first line
    select customer_id, invoice_no, min(snapshot_at) as snapshot_at
    from lines_bucketed
    where not is_cancellation
    group by customer_id, invoice_no

),

first_purchases_bucketed as (

    -- the first time each customer bought each product (for distinct products to date)
    select customer_id, stock_code, min(snapshot_at) as snapshot_at
    from lines_bucketed
    where not is_cancellation
    group by customer_id, stock_code

),

line_activity as (

    select
        customer_id,
        snapshot_at,
        count(*) as n_lines,
        count(*) filter (where is_cancellation) as n_cancelled_lines,
        {{ exact_sum('line_amount') }} as net_amount,
        coalesce({{ exact_sum('line_amount') }} filter (where not is_cancellation), 0)
            as gross_amount,
        min(ordered_at) as first_seen_at,
        max(ordered_at) filter (where not is_cancellation) as last_order_at
    from lines_bucketed
    group by customer_id, snapshot_at

),

invoice_activity as (

    select customer_id, snapshot_at, count(*) as n_invoices
    from invoices_bucketed
    group by customer_id, snapshot_at

),

product_activity as (

    select customer_id, snapshot_at, count(*) as n_new_products
    from first_purchases_bucketed
    group by customer_id, snapshot_at

),

customer_snapshots as (

    -- every snapshot from the customer's first bucket onwards
    select first_buckets.customer_id, snapshots.snapshot_at
    from (
        select customer_id, min(snapshot_at) as first_snapshot_at
        from line_activity
        group by customer_id
    ) as first_buckets
    inner join snapshots
        on snapshots.snapshot_at >= first_buckets.first_snapshot_at

),

running as (

    select
        customer_snapshots.customer_id,
        customer_snapshots.snapshot_at,
        sum(coalesce(line_activity.n_lines, 0)) over to_date as n_lines,
        sum(coalesce(line_activity.n_cancelled_lines, 0)) over to_date as n_cancelled_lines,
        sum(coalesce(line_activity.net_amount, 0)) over to_date as net_amount,
        sum(coalesce(line_activity.gross_amount, 0)) over to_date as gross_amount,
        min(line_activity.first_seen_at) over to_date as first_seen_at,
        max(line_activity.last_order_at) over to_date as last_order_at,
        sum(coalesce(invoice_activity.n_invoices, 0)) over to_date as n_invoices,
        sum(coalesce(product_activity.n_new_products, 0)) over to_date as n_products
    from customer_snapshots
    left join line_activity
        on customer_snapshots.customer_id = line_activity.customer_id
        and customer_snapshots.snapshot_at = line_activity.snapshot_at
    left join invoice_activity
        on customer_snapshots.customer_id = invoice_activity.customer_id
        and customer_snapshots.snapshot_at = invoice_activity.snapshot_at
    left join product_activity
        on customer_snapshots.customer_id = product_activity.customer_id
        and customer_snapshots.snapshot_at = product_activity.snapshot_at
    window to_date as (
        partition by customer_snapshots.customer_id
        order by customer_snapshots.snapshot_at
        rows between unbounded preceding and current row
    )

),

final as (

    select
        ---------- keys
        running.customer_id,
        running.snapshot_at,

        ---------- features (days are fractional: 1.5 = a day and a half before the snapshot)
        {{ ratio(seconds_between('coalesce(running.last_order_at, running.first_seen_at)',
            'running.snapshot_at'), '86400.0') }} as recency_days,
        cast(running.n_invoices as bigint) as frequency,
        cast(running.net_amount as double) as monetary,
        {{ ratio(seconds_between('running.first_seen_at', 'running.snapshot_at'), '86400.0') }}
            as tenure_days,
        case
            when running.n_invoices > 0
                then cast(running.gross_amount as double) / running.n_invoices
            else 0.0
        end as avg_basket_value,
        cast(running.n_cancelled_lines as double) / running.n_lines as return_rate,
        cast(running.n_products as bigint) as n_distinct_products,
        cast(customers.is_uk as bigint) as is_uk

    from running
    inner join customers
        on running.customer_id = customers.customer_id

)

select * from final
