-- One row per current, valid review: what the sentiment family and the product stats read.
-- sentiment_label follows the rating: 4-5 stars positive, 1-2 negative, 3 neutral. Neutral
-- reviews are kept apart: is_positive is null for them, so the sentiment model neither learns
-- from them nor is judged on them (they are a behavioural check of its probabilities).

with

reviews as (

    select * from {{ ref('stg_reviews') }}
    where is_valid
        and not is_superseded
        and text is not null

),

final as (

    select
        ---------- ids
        review_id,
        product_id,
        customer_id,

        ---------- the product
        category,
        department,
        division,

        ---------- the review
        rating,
        case
            when rating >= 4 then 'positive'
            when rating <= 2 then 'negative'
            else 'neutral'
        end as sentiment_label,
        case when rating >= 4 then 1 when rating <= 2 then 0 end as is_positive,
        title,
        text,
        text_chars,
        recommended,
        helpful_votes,

        ---------- the reviewer
        age_band,

        ---------- timestamps
        created_at,

        ---------- lineage
        batch_id,
        loaded_at

    from reviews

)

select * from final
