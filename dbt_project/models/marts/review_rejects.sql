-- Every delivered review the raw gate set aside, with its reason: what a person reads, fixes
-- and delivers again (warehouse/sources/reviews.py names the checks). Keyed by the batch and
-- the row's data-row number in that file. A rejected review whose id later loaded validly is
-- marked is_fixed; the rejected row itself stays (raw keeps every delivery).

with

rejected as (

    select * from {{ ref('stg_reviews') }}
    where not is_valid

),

fixed as (

    select review_id, max(loaded_at) as fixed_at
    from {{ ref('stg_reviews') }}
    where is_valid
    group by review_id

),

final as (

    select
        ---------- where it came from
        rejected.batch_id,
        rejected.source_row,

        ---------- what it said
        rejected.review_id,
        rejected.product_id,
        rejected.rating,
        left(rejected.text, 200) as text_preview,

        ---------- why it was set aside
        rejected.reject_reason,
        coalesce(fixed.fixed_at > rejected.loaded_at, false) as is_fixed,

        ---------- timestamps
        rejected.loaded_at

    from rejected
    left join fixed
        on rejected.review_id = fixed.review_id

)

select * from final
