-- One row per delivered rating, typed and trimmed. A rating delivered twice (the same user,
-- item, time and stars, in two batches or twice in one) counts once, the first loaded.

with

source as (

    select * from {{ source('raw', 'ratings') }}

),

renamed as (

    select
        ---------- ids
        trim(user_id) as user_id,
        trim(item_id) as item_id,

        ---------- feedback
        cast(rating as double) as rating,
        cast("timestamp" as timestamp) as rated_at,

        ---------- lineage
        batch_id,
        loaded_at

    from source

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by user_id, item_id, rated_at, rating order by loaded_at, batch_id
        ) as copy_number

    from renamed

),

final as (

    select * exclude (copy_number)
    from deduplicated
    where copy_number = 1

)

select * from final
