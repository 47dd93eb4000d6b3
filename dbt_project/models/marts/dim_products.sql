-- One row per product sold to a known customer.

with

order_lines as (

    select * from {{ ref('int_order_lines_filtered') }}

),

descriptions_ranked as (

    -- a product's name is its most frequent description (longest-lived spelling wins a tie)
    select
        stock_code,
        description,
        row_number() over (
            partition by stock_code
            order by count(*) desc, max(ordered_at) desc, description
        ) as description_rank
    from order_lines
    where description is not null
    group by stock_code, description

),

sales as (

    select
        stock_code,
        count(distinct invoice_no) filter (where not is_cancellation) as n_orders,
        count(distinct customer_id) filter (where not is_cancellation) as n_customers,
        coalesce(sum(quantity) filter (where not is_cancellation), 0) as total_quantity,
        coalesce(-sum(quantity) filter (where is_cancellation), 0) as returned_quantity,
        median(unit_price) as median_unit_price,
        min(ordered_at) filter (where not is_cancellation) as first_sold_at,
        max(ordered_at) filter (where not is_cancellation) as last_sold_at
    from order_lines
    group by stock_code

),

final as (

    select
        ---------- ids
        sales.stock_code,

        ---------- attributes
        descriptions_ranked.description,

        ---------- counts and amounts
        cast(sales.n_orders as bigint) as n_orders,
        cast(sales.n_customers as bigint) as n_customers,
        cast(sales.total_quantity as bigint) as total_quantity,
        cast(sales.returned_quantity as bigint) as returned_quantity,
        sales.median_unit_price,

        ---------- timestamps
        sales.first_sold_at,
        sales.last_sold_at

    from sales
    left join descriptions_ranked
        on sales.stock_code = descriptions_ranked.stock_code
        and descriptions_ranked.description_rank = 1

)

select * from final
