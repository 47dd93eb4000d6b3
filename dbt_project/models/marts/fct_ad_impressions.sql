-- One row per ad impression with its categorical context and outcomes: the training data of
-- the ad_response family (click-through; conversion after a click).

with

impressions as (

    select * from {{ ref('stg_ad_impressions') }}

),

final as (

    select
        ---------- ids
        impression_id,
        viewer_key,

        ---------- context
        campaign,
        creative,
        placement,
        device,
        os,
        country,
        is_known_customer,
        extract(hour from shown_at) as hour_of_day,
        extract(isodow from shown_at) as day_of_week,

        ---------- outcomes and cost
        cast(clicked as integer) as clicked,
        cast(converted as integer) as converted,
        cost,

        ---------- timestamps
        shown_at

    from impressions

)

select * from final
