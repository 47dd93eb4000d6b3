-- One row per browsing session, typed and renamed to snake_case.
-- The UCI export has no session id: where none was delivered, the id is the batch (a hash of
-- the file's content) and the row's position in the file, so it is stable across re-runs.
-- A session delivered twice under its own id (in two batches) counts once, the first loaded.

with

source as (

    select * from {{ source('raw', 'sessions') }}

),

renamed as (

    select
        ---------- ids
        coalesce(
            nullif(trim(session_id), ''),
            batch_id || '-' || lpad(cast(source_row as varchar), 6, '0')
        ) as session_id,

        ---------- behaviour so far: pages and seconds per page kind
        cast(Administrative as bigint) as administrative_pages,
        cast(Administrative_Duration as double) as administrative_seconds,
        cast(Informational as bigint) as informational_pages,
        cast(Informational_Duration as double) as informational_seconds,
        cast(ProductRelated as bigint) as product_pages,
        cast(ProductRelated_Duration as double) as product_seconds,

        ---------- analytics of the pages seen
        cast(BounceRates as double) as bounce_rate,
        cast(ExitRates as double) as exit_rate,
        cast(PageValues as double) as page_value,
        cast(SpecialDay as double) as special_day,

        ---------- context
        Month as month,
        list_position(
            ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'],
            Month
        ) as month_number,
        cast(OperatingSystems as bigint) as operating_system,
        cast(Browser as bigint) as browser,
        cast(Region as bigint) as region,
        cast(TrafficType as bigint) as traffic_type,
        VisitorType as visitor_type,
        cast(Weekend as boolean) as is_weekend,

        ---------- timestamps (null where the export has none)
        cast(session_start as timestamp) as session_start,

        ---------- outcome
        cast(Revenue as boolean) as purchased,

        ---------- lineage
        source_row,
        batch_id,
        loaded_at

    from source

),

deduplicated as (

    select
        *,
        row_number() over (partition by session_id order by loaded_at, batch_id) as copy_number

    from renamed

),

final as (

    select * exclude (copy_number)
    from deduplicated
    where copy_number = 1

)

select * from final
