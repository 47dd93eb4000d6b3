-- One row per distinct delivered order line, typed, trimmed and flagged.
-- Dropped here: bad-debt adjustments (A invoices) and exact duplicates (a line delivered twice,
-- in one file or across batches, counts once). Kept but flagged for later layers: cancellations,
-- non-product lines (postage, fees, adjustments, vouchers) and lines without a customer.

with

source as (

    select * from {{ source('raw', 'order_lines') }}

),

renamed as (

    select
        ---------- ids
        upper(trim(InvoiceNo)) as invoice_no,
        upper(trim(StockCode)) as stock_code,
        nullif(trim(CustomerID), '') as customer_id,

        ---------- text (UTF-8 read as Latin-1 left "Â£" for "£": drop the stray "Â")
        nullif(trim({{ regexp_replace_all('Description', 'Â([\\x{00A0}-\\x{00BF}])', '\\1') }}), '')
            as description,
        coalesce(nullif(trim(Country), ''), 'Unspecified') as country,

        ---------- numbers
        cast(Quantity as bigint) as quantity,
        cast(UnitPrice as double) as unit_price,

        ---------- timestamps
        cast(InvoiceDate as timestamp) as ordered_at,

        ---------- lineage
        batch_id,
        loaded_at

    from source

),

flagged as (

    select
        *,
        {{ text_starts_with('invoice_no', "'C'") }} as is_cancellation,
        {{ text_starts_with('invoice_no', "'A'") }} as is_bad_debt_adjustment,
        {{ line_type('stock_code') }} as line_type,
        customer_id is null as is_missing_customer,
        row_number() over (
            partition by
                invoice_no, stock_code, description, quantity, unit_price, ordered_at,
                customer_id, country
            order by loaded_at, batch_id
        ) > 1 as is_duplicate

    from renamed

),

final as (

    select
        invoice_no,
        stock_code,
        customer_id,
        description,
        country,
        quantity,
        unit_price,
        ordered_at,
        is_cancellation,
        line_type,
        line_type = 'product' as is_product,
        is_missing_customer,
        batch_id,
        loaded_at

    from flagged
    where not is_bad_debt_adjustment
        and not is_duplicate

)

select * from final
