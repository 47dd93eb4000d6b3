-- One row per labelled support message: the intent family's training data, with the entity
-- as written in the message (the span) beside its normalised value.

with

messages as (

    select * from {{ ref('stg_support_messages') }}

),

final as (

    select
        ---------- ids
        message_id,
        customer_id,
        conversation_id,

        ---------- the message and its labels
        text,
        intent,
        category,

        ---------- the entity
        entity_type,
        entity_value,
        case
            when start_offset is not null and end_offset is not null
                then substr(text, cast(start_offset + 1 as integer),
                            cast(end_offset - start_offset as integer))
        end as entity_text,

        ---------- timestamps
        sent_at

    from messages

)

select * from final
