-- One row per support message, typed and trimmed; a message id delivered twice counts once
-- (the first loaded). Without a delivered id, the id is the batch and the data row.

with

source as (

    select * from {{ source('raw_support', 'support_messages') }}

),

renamed as (

    select
        ---------- ids
        coalesce(nullif(trim(message_id), ''), batch_id || '-' || cast(source_row as varchar))
            as message_id,
        nullif(trim(customer_id), '') as customer_id,
        nullif(trim(conversation_id), '') as conversation_id,

        ---------- the message and its labels
        trim(text) as text,
        lower(trim(intent)) as intent,
        upper(trim(category)) as category,

        ---------- the entity span, when one is marked
        nullif(lower(trim(entity_type)), '') as entity_type,
        nullif(trim(entity_value), '') as entity_value,
        cast(start_offset as bigint) as start_offset,
        cast(end_offset as bigint) as end_offset,
        nullif(trim(tags), '') as tags,

        ---------- timestamps
        cast(sent_at as timestamp) as sent_at,

        ---------- lineage
        batch_id,
        source_row,
        loaded_at

    from source

),

deduplicated as (

    select
        *,
        row_number() over (partition by message_id order by loaded_at, batch_id) as copy_number

    from renamed

),

final as (

    select * exclude (copy_number)

    from deduplicated
    where copy_number = 1

)

select * from final
