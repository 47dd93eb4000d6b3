-- One row per customer and campaign with the arm, the outcomes and the attributes at send time:
-- what the uplift family learns from. Only campaigns with a control arm and at least one
-- treated arm are here (without a control, a campaign's effect cannot be told from what the
-- customers would have done anyway).

with

exposures as (

    select * from {{ ref('stg_campaign_exposures') }}

),

campaigns as (

    select
        campaign,
        bool_or(is_control) as has_control,
        bool_or(not is_control) as has_treatment

    from exposures
    group by campaign

),

final as (

    select
        ---------- ids
        exposures.campaign || ':' || exposures.customer_id as exposure_id,
        exposures.campaign,
        exposures.customer_id,

        ---------- the arm
        exposures.treatment_arm,
        exposures.treatment,
        exposures.is_control,
        exposures.sent_at,

        ---------- outcomes
        exposures.visited,
        exposures.converted,
        exposures.spend,

        ---------- attributes
        exposures.recency_months,
        exposures.history_segment,
        exposures.history,
        exposures.mens,
        exposures.womens,
        exposures.zip_code,
        exposures.newbie,
        exposures.channel

    from exposures
    inner join campaigns using (campaign)
    where campaigns.has_control and campaigns.has_treatment

)

select * from final
