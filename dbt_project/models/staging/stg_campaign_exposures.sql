-- One row per customer and campaign, typed and named: the arm as a slug (`Mens E-Mail` ->
-- `mens_e_mail`) with a control flag, the outcomes as integers, the attributes cleaned
-- (`Surburban`, the Hillstrom file's spelling, becomes `suburban`). A customer delivered twice
-- for one campaign (two batches) counts once: the later batch wins.

--
-- raw.campaign_exposures exists once the campaigns source is declared (landing creates it
-- before dbt runs). Until then this model is an empty relation of the same columns.

{%- set raw = source('raw_campaigns', 'campaign_exposures') -%}
{%- if execute and model.resource_type != 'unit_test' -%}
    {%- set delivered = adapter.get_relation(raw.database, raw.schema, raw.identifier) -%}
{%- else -%}
    {%- set delivered = raw -%}
{%- endif %}

with

source as (

{% if delivered is none %}
    select
        null::varchar as customer_id, null::varchar as campaign, null::varchar as treatment_arm,
        null::timestamp as sent_at, null::bigint as visited, null::bigint as converted,
        null::double as spend, null::bigint as recency, null::varchar as history_segment,
        null::double as history, null::bigint as mens, null::bigint as womens,
        null::varchar as zip_code, null::bigint as newbie, null::varchar as channel,
        null::varchar as batch_id, null::timestamp as loaded_at
    where false
{% else %}
    select * from {{ raw }}
{% endif %}

),

renamed as (

    select
        ---------- ids
        trim(customer_id) as customer_id,
        lower(trim(campaign)) as campaign,

        ---------- the arm
        trim(treatment_arm) as treatment_arm,
        trim(both '_' from regexp_replace(lower(trim(treatment_arm)), '[^a-z0-9]+', '_', 'g'))
            as treatment,
        regexp_replace(lower(treatment_arm), '[^a-z]', '', 'g')
            in ('noemail', 'nomail', 'control', 'none', 'holdout', 'nothing') as is_control,

        ---------- timestamps
        cast(sent_at as timestamp) as sent_at,

        ---------- outcomes
        cast(visited as integer) as visited,
        cast(converted as integer) as converted,
        cast(spend as double) as spend,

        ---------- customer attributes at send time
        cast(recency as integer) as recency_months,
        nullif(trim(history_segment), '') as history_segment,
        cast(history as double) as history,
        cast(mens as integer) as mens,
        cast(womens as integer) as womens,
        case lower(trim(zip_code))
            when 'surburban' then 'suburban'
            else nullif(lower(trim(zip_code)), '')
        end as zip_code,
        cast(newbie as integer) as newbie,
        nullif(lower(trim(channel)), '') as channel,

        ---------- lineage
        batch_id,
        loaded_at

    from source

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by campaign, customer_id order by loaded_at desc, batch_id desc
        ) as delivery_rank

    from renamed

),

final as (

    select * exclude (delivery_rank)
    from deduplicated
    where delivery_rank = 1

)

select * from final
