-- One row per user and item: the latest rating the user gave the item (a re-rating replaces
-- the earlier one; ties at the same time keep the later batch), with how many times it was
-- rated. The training data of the rating_recommendation family.

with

ratings as (

    select * from {{ ref('stg_ratings') }}

),

ranked as (

    select
        *,
        count(*) over (partition by user_id, item_id) as n_ratings,
        row_number() over (
            partition by user_id, item_id order by rated_at desc, loaded_at desc, batch_id desc
        ) as recency_rank

    from ratings

),

final as (

    select
        user_id,
        item_id,
        rating,
        rated_at,
        n_ratings,
        batch_id

    from ranked
    where recency_rank = 1

)

select * from final
