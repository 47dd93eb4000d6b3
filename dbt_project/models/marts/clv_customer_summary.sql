-- Per-customer statistics of the buy-till-you-die models, in days, one purchase per
-- customer-day (customer_purchase_days), for two periods:
--   full period   every purchase day up to the last one in the data (observation_end): what
--                 the served customer-value model predicts from;
--   calibration   purchase days up to calibration_end = observation_end - clv_holdout_days,
--                 with what the same customers did after it (the hold-out): what training fits
--                 on and is judged on. Customers first seen in the hold-out have null
--                 calibration columns (they were unknown at calibration_end).
-- Per period: frequency = repeat purchase days (purchase days - 1), recency_days = first to
-- last purchase day, age_days (T) = first purchase day to the end of the period, monetary =
-- mean value of the repeat purchase days (what Gamma-Gamma fits; 0 without repeats). The
-- same definitions as models.btyd.customer_summary with freq="D", which the tests compare.

with

purchase_days as (

    select * from {{ ref('customer_purchase_days') }}

),

bounds as (

    select
        max(purchase_day) as observation_end,
        cast(max(purchase_day) - {{ var('clv_holdout_days') }} as date) as calibration_end
    from purchase_days

),

numbered as (

    -- day_number 1 is the first purchase; calibration days are a prefix of each customer's days
    select
        purchase_days.customer_id,
        purchase_days.purchase_day,
        purchase_days.amount,
        row_number() over (
            partition by purchase_days.customer_id order by purchase_days.purchase_day
        ) as day_number,
        purchase_days.purchase_day <= bounds.calibration_end as is_calibration,
        bounds.observation_end,
        bounds.calibration_end
    from purchase_days
    cross join bounds

),

per_customer as (

    select
        customer_id,
        any_value(observation_end) as observation_end,
        any_value(calibration_end) as calibration_end,
        min(purchase_day) as first_purchase_day,
        max(purchase_day) as last_purchase_day,
        count(*) as n_purchase_days,
        -- means as exact sums over counts: a plain avg(double) can differ in its last bit
        -- from run to run (thread order), and the marts must be identical on the same data
        {{ ratio(exact_sum('amount') ~ ' filter (where day_number > 1)',
            'nullif(count(*) filter (where day_number > 1), 0)') }} as repeat_mean_amount,
        {{ exact_sum('amount') }} as total_amount,
        count(*) filter (where is_calibration) as n_calibration_days,
        max(purchase_day) filter (where is_calibration) as last_calibration_day,
        {{ ratio(exact_sum('amount') ~ ' filter (where is_calibration and day_number > 1)',
            'nullif(count(*) filter (where is_calibration and day_number > 1), 0)') }}
            as calibration_repeat_mean_amount,
        count(*) filter (where not is_calibration) as n_holdout_days,
        {{ ratio(exact_sum('amount') ~ ' filter (where not is_calibration)',
            'nullif(count(*) filter (where not is_calibration), 0)') }} as holdout_mean_amount,
        {{ exact_sum('amount') }} filter (where not is_calibration) as holdout_total_amount
    from numbered
    group by customer_id

),

final as (

    select
        ---------- ids
        customer_id,

        ---------- full period (up to observation_end)
        cast(n_purchase_days - 1 as bigint) as frequency,
        cast({{ days_between('first_purchase_day', 'last_purchase_day') }} as double) as recency_days,
        cast({{ days_between('first_purchase_day', 'observation_end') }} as double) as age_days,
        cast(coalesce(repeat_mean_amount, 0) as double) as monetary,
        cast(total_amount as double) as total_amount,

        ---------- calibration period (up to calibration_end; null if first seen after it)
        n_calibration_days > 0 as in_calibration,
        cast(case when n_calibration_days > 0 then n_calibration_days - 1 end as bigint)
            as cal_frequency,
        cast({{ days_between('first_purchase_day', 'last_calibration_day') }} as double)
            as cal_recency_days,
        cast(case when n_calibration_days > 0
            then {{ days_between('first_purchase_day', 'calibration_end') }} end as double)
            as cal_age_days,
        cast(case when n_calibration_days > 0
            then coalesce(calibration_repeat_mean_amount, 0) end as double) as cal_monetary,

        ---------- hold-out (after calibration_end, for customers known at calibration_end)
        cast(case when n_calibration_days > 0 then n_holdout_days end as bigint)
            as holdout_frequency,
        cast(case when n_calibration_days > 0
            then coalesce(holdout_mean_amount, 0) end as double) as holdout_monetary,
        cast(case when n_calibration_days > 0
            then coalesce(holdout_total_amount, 0) end as double) as holdout_amount,

        ---------- timestamps
        first_purchase_day,
        last_purchase_day,
        calibration_end,
        observation_end,
        cast({{ var('clv_holdout_days') }} as integer) as holdout_days

    from per_customer

)

select * from final
