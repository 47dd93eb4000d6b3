-- Point-in-time check on the whole mart: recompute frequency, monetary and the line count
-- directly (every line strictly before the snapshot) and compare with the running totals.
-- Returns the rows that disagree; none may.

with

features as (

    select * from {{ ref('customer_features') }}

),

order_lines as (

    select * from {{ ref('fct_order_lines') }}

),

recomputed as (

    select
        features.customer_id,
        features.snapshot_at,
        count(distinct order_lines.invoice_no)
            filter (where not order_lines.is_cancellation) as frequency,
        sum(order_lines.line_amount) as monetary
    from features
    inner join order_lines
        on features.customer_id = order_lines.customer_id
        and order_lines.ordered_at < features.snapshot_at
    group by features.customer_id, features.snapshot_at

)

select features.customer_id, features.snapshot_at,
    features.frequency, recomputed.frequency as expected_frequency,
    features.monetary, recomputed.monetary as expected_monetary
from features
left join recomputed
    on features.customer_id = recomputed.customer_id
    and features.snapshot_at = recomputed.snapshot_at
where recomputed.customer_id is null
    or features.frequency <> recomputed.frequency
    or abs(features.monetary - recomputed.monetary) > 1e-6 * (1 + abs(recomputed.monetary))
