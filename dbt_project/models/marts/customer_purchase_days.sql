-- One row per customer and calendar day with a purchase: the purchase occasions that the
-- buy-till-you-die models (BG/NBD, Pareto/NBD, Gamma-Gamma) count. Several invoices of one
-- customer on one day are one occasion (mostly split orders), their values summed.
-- Cancellations are not purchases: they are left out here, so the value of a day is what was
-- bought that day (returns are netted in customer_features' monetary, not here).

with

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

purchase_lines as (

    select
        customer_id,
        cast(ordered_at as date) as purchase_day,
        invoice_no,
        line_amount
    from order_lines
    where not is_cancellation

),

final as (

    select
        ---------- keys
        customer_id,
        purchase_day,

        ---------- counts and amounts
        cast(count(distinct invoice_no) as bigint) as n_invoices,
        cast(count(*) as bigint) as n_lines,
        cast({{ exact_sum('line_amount') }} as double) as amount

    from purchase_lines
    group by customer_id, purchase_day

)

select * from final
