-- One row per product line of a known customer: the fact table every model starts from.

with

order_lines as (

    select * from {{ ref('int_order_lines_filtered') }}

),

final as (

    select
        ---------- ids
        order_line_id,
        invoice_no,
        stock_code,
        customer_id,

        ---------- amounts
        quantity,
        unit_price,
        line_amount,

        ---------- timestamps
        ordered_at,

        ---------- attributes
        country,
        is_cancellation

    from order_lines

)

select * from final
