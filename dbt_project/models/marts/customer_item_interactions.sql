-- Implicit feedback for the recommender: one row per (customer, product) the customer bought.
-- Returns are counted beside purchases so a model may discount them; pairs with only returns
-- (items bought before the data starts) are left out.

with

order_lines as (

    select * from {{ ref('int_order_lines_filtered') }}

),

pairs as (

    select
        customer_id,
        stock_code,
        count(distinct invoice_no) filter (where not is_cancellation) as n_orders,
        coalesce(sum(quantity) filter (where not is_cancellation), 0) as quantity,
        coalesce(-sum(quantity) filter (where is_cancellation), 0) as returned_quantity,
        {{ exact_sum('line_amount') }} as net_amount,
        min(ordered_at) filter (where not is_cancellation) as first_bought_at,
        max(ordered_at) filter (where not is_cancellation) as last_bought_at
    from order_lines
    group by customer_id, stock_code

),

final as (

    select
        ---------- ids
        customer_id,
        stock_code,

        ---------- counts and amounts
        cast(n_orders as bigint) as n_orders,
        cast(quantity as bigint) as quantity,
        cast(returned_quantity as bigint) as returned_quantity,
        cast(net_amount as double) as net_amount,

        ---------- timestamps
        first_bought_at,
        last_bought_at

    from pairs
    where n_orders > 0

)

select * from final
