-- Order lines the models can learn from: product lines of known customers with a positive price,
-- whose quantity sign agrees with the invoice (sales > 0, cancellations < 0). What is left out:
--   non-product lines   postage, fees, adjustments and vouchers are not things customers "buy"
--   missing customer    guest lines cannot be tied to anyone's history
--   price <= 0          free samples and write-offs carry no monetary signal
--   sign mismatch       negative quantities on sales invoices are stock corrections, not returns

with

order_lines as (

    select * from {{ ref('stg_order_lines') }}

),

filtered as (

    select *
    from order_lines
    where is_product
        and not is_missing_customer
        and unit_price > 0
        and quantity <> 0
        and is_cancellation = (quantity < 0)

),

final as (

    select
        ---------- ids
        md5(concat_ws('|',
            invoice_no, stock_code, coalesce(description, ''), quantity, unit_price,
            {{ timestamp_text('ordered_at') }}, customer_id, country
        )) as order_line_id,
        invoice_no,
        stock_code,
        customer_id,

        ---------- attributes
        description,
        country,
        is_cancellation,

        ---------- amounts
        quantity,
        unit_price,
        quantity * unit_price as line_amount,

        ---------- timestamps
        ordered_at

    from filtered

)

select * from final
