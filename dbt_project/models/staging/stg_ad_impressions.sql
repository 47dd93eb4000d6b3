-- One row per ad impression, typed and trimmed; an impression id delivered twice counts once
-- (the first loaded). Who saw it is one key: the customer when known, else the anonymous id.

with

source as (

    select * from {{ source('raw', 'ad_impressions') }}

),

renamed as (

    select
        ---------- ids
        trim(impression_id) as impression_id,
        nullif(trim(customer_id), '') as customer_id,
        nullif(trim(anonymous_id), '') as anonymous_id,

        ---------- what was shown, where, to which device
        lower(trim(campaign)) as campaign,
        trim(creative) as creative,
        lower(trim(placement)) as placement,
        lower(trim(device)) as device,
        coalesce(lower(nullif(trim(os), '')), 'unknown') as os,
        coalesce(upper(nullif(trim(country), '')), 'unknown') as country,

        ---------- outcome and cost
        cast(clicked as boolean) as clicked,
        cast(converted as boolean) as converted,
        cast(cost as double) as cost,

        ---------- timestamps
        cast(shown_at as timestamp) as shown_at,

        ---------- lineage
        batch_id,
        loaded_at

    from source

),

deduplicated as (

    select
        *,
        row_number() over (partition by impression_id order by loaded_at, batch_id) as copy_number

    from renamed

),

final as (

    select
        * exclude (copy_number),
        coalesce('customer:' || customer_id, 'anonymous:' || anonymous_id) as viewer_key,
        customer_id is not null as is_known_customer

    from deduplicated
    where copy_number = 1

)

select * from final
