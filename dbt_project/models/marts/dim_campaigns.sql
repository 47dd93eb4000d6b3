-- One row per campaign delivered, usable or not: its arms, sizes, send dates and the
-- conversion rate of the treated and of the control (the average effect, before any model).

with

exposures as (

    select * from {{ ref('stg_campaign_exposures') }}

),

final as (

    select
        campaign,
        string_agg(distinct treatment, ',' order by treatment)
            filter (where not is_control) as treatments,
        max(treatment) filter (where is_control) as control_treatment,
        bool_or(is_control) and bool_or(not is_control) as is_usable,

        ---------- sizes
        count(*) as n_customers,
        count(*) filter (where not is_control) as n_treated,
        count(*) filter (where is_control) as n_control,

        ---------- timestamps
        min(sent_at) as first_sent_at,
        max(sent_at) as last_sent_at,

        ---------- outcomes
        avg(converted) filter (where not is_control) as treated_conversion_rate,
        avg(converted) filter (where is_control) as control_conversion_rate,
        avg(spend) filter (where not is_control) as treated_spend_per_customer,
        avg(spend) filter (where is_control) as control_spend_per_customer

    from exposures
    group by campaign

)

select * from final
