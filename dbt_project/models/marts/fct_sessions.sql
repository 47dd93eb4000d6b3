-- One row per browsing session: what the visitor did (the features of session intent) and
-- whether the session ended in a purchase (its label). Every feature is a running total or a
-- running mean of the pages seen, so a live session's values "so far" have the same meaning.

with

sessions as (

    select * from {{ ref('stg_sessions') }}

),

final as (

    select
        ---------- ids
        session_id,

        ---------- behaviour so far
        administrative_pages,
        administrative_seconds,
        informational_pages,
        informational_seconds,
        product_pages,
        product_seconds,
        administrative_pages + informational_pages + product_pages as total_pages,
        bounce_rate,
        exit_rate,
        page_value,
        special_day,

        ---------- context
        month,
        month_number,
        operating_system,
        browser,
        region,
        traffic_type,
        visitor_type,
        is_weekend,
        session_start,

        ---------- label
        cast(purchased as integer) as label,

        ---------- lineage
        batch_id

    from sessions

)

select * from final
