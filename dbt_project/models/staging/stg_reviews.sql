-- One row per delivered review, typed and cleaned; rows the raw gate set aside are kept with
-- their reason (is_valid = false) for mart review_rejects, and nothing else reads them.
-- Cleaning: text and title trimmed, runs of whitespace collapsed, the UTF-8-read-as-Latin-1
-- mojibake of exports fixed ("fiancã©" -> "fiancé", "â\xa0" -> a space), the clothing file's
-- division typo "Initmates" corrected. A review delivered again (same review_id, a later
-- batch) is the current version: the latest valid delivery wins, earlier ones are superseded.
--
-- raw.reviews exists once the reviews source is declared (landing creates it before dbt runs).
-- Until then this model is an empty relation of the same columns, so the marts and the mart
-- gate build in a warehouse that has never had a reviews source.

{%- set raw = source('raw_reviews', 'reviews') -%}
{%- if execute and model.resource_type != 'unit_test' -%}
    {%- set delivered = adapter.get_relation(raw.database, raw.schema, raw.identifier) -%}
{%- else -%}
    {%- set delivered = raw -%}
{%- endif -%}

{#- lower-cased mojibake of accented letters (UTF-8 bytes read as Latin-1) -> the letter -#}
{%- set mojibake = {
    'ã©': 'é', 'ã¨': 'è', 'ãª': 'ê', 'ã«': 'ë', 'ã¡': 'á', 'ã¢': 'â', 'ã¤': 'ä',
    'ã§': 'ç', 'ã®': 'î', 'ã¯': 'ï', 'ã±': 'ñ', 'ã³': 'ó', 'ã´': 'ô', 'ã¶': 'ö',
    'ãº': 'ú', 'ã»': 'û', 'ã¼': 'ü', 'â ': ' ',
} -%}
{%- set cleaned = {} -%}
{%- for column in ['title', 'text'] -%}
    {%- set ns = namespace(expr=column) -%}
    {%- for bad, good in mojibake.items() -%}
        {%- set ns.expr = "replace(" ~ ns.expr ~ ", '" ~ bad ~ "', '" ~ good ~ "')" -%}
    {%- endfor -%}
    {%- do cleaned.update({column: ns.expr}) -%}
{%- endfor %}

with

source as (

{% if delivered is none %}
    select
        null::varchar as review_id, null::varchar as product_id, null::bigint as rating,
        null::varchar as text, null::varchar as customer_id, null::varchar as title,
        null::timestamp as created_at, null::varchar as category, null::varchar as department,
        null::varchar as division, null::boolean as recommended, null::bigint as helpful_votes,
        null::varchar as age_band, null::bigint as source_row, null::varchar as reject_reason, null::varchar as batch_id,
        null::timestamp as loaded_at
    where false
{% else %}
    select * from {{ raw }}
{% endif %}

),

renamed as (

    select
        ---------- ids
        nullif(trim(review_id), '') as review_id,
        nullif(trim(product_id), '') as product_id,
        nullif(trim(customer_id), '') as customer_id,

        ---------- the review
        cast(rating as integer) as rating,
        nullif(trim(regexp_replace({{ cleaned['title'] }}, '[\s\x{00A0}]+', ' ', 'g')), '')
            as title,
        nullif(trim(regexp_replace({{ cleaned['text'] }}, '[\s\x{00A0}]+', ' ', 'g')), '')
            as text,
        cast(created_at as timestamp) as created_at,
        recommended,
        cast(helpful_votes as integer) as helpful_votes,

        ---------- the reviewer (an age band only: the source never stores the age)
        nullif(trim(age_band), '') as age_band,

        ---------- the product
        nullif(trim(category), '') as category,
        nullif(trim(department), '') as department,
        nullif(trim(replace(division, 'Initmates', 'Intimates')), '') as division,

        ---------- the gate's verdict and lineage
        reject_reason is null as is_valid,
        reject_reason,
        source_row,
        batch_id,
        loaded_at

    from source

),

versioned as (

    select
        *,
        is_valid and row_number() over (
            partition by review_id, is_valid
            order by loaded_at desc, batch_id desc, source_row desc
        ) > 1 as is_superseded

    from renamed

),

final as (

    select
        review_id,
        product_id,
        customer_id,
        rating,
        title,
        text,
        length(text) as text_chars,
        created_at,
        recommended,
        helpful_votes,
        age_band,
        category,
        department,
        division,
        is_valid,
        is_superseded,
        reject_reason,
        source_row,
        batch_id,
        loaded_at

    from versioned

)

select * from final
