-- One row per known customer: where they are and how much they have bought over all time.

with

order_lines as (

    select * from {{ ref('int_order_lines_filtered') }}

),

countries_ranked as (

    -- a customer's country is the one most of their lines ship to (latest wins a tie)
    select
        customer_id,
        country,
        row_number() over (
            partition by customer_id
            order by count(*) desc, max(ordered_at) desc, country
        ) as country_rank
    from order_lines
    group by customer_id, country

),

activity as (

    select
        customer_id,
        min(ordered_at) as first_seen_at,
        min(ordered_at) filter (where not is_cancellation) as first_order_at,
        max(ordered_at) filter (where not is_cancellation) as last_order_at,
        count(distinct invoice_no) filter (where not is_cancellation) as n_orders,
        count(distinct invoice_no) filter (where is_cancellation) as n_cancellations,
        {{ exact_sum('line_amount') }} as monetary
    from order_lines
    group by customer_id

),

final as (

    select
        ---------- ids
        activity.customer_id,

        ---------- attributes
        countries_ranked.country,
        countries_ranked.country = 'United Kingdom' as is_uk,

        ---------- timestamps
        activity.first_seen_at,
        activity.first_order_at,
        activity.last_order_at,

        ---------- counts and amounts
        cast(activity.n_orders as bigint) as n_orders,
        cast(activity.n_cancellations as bigint) as n_cancellations,
        cast(activity.monetary as double) as monetary

    from activity
    inner join countries_ranked
        on activity.customer_id = countries_ranked.customer_id
        and countries_ranked.country_rank = 1

)

select * from final
