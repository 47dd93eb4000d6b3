{#
    SQL that DuckDB and Spark spell differently, dispatched on the adapter (dbt's
    adapter.dispatch): default__ is DuckDB's spelling, spark__ Spark's, so each model is one copy.
    Used by the order models; docs/spark.md.
#}

{# does text start with a prefix (DuckDB starts_with, Spark startswith) #}
{% macro text_starts_with(text, prefix) -%}
    {{ return(adapter.dispatch('text_starts_with')(text, prefix)) }}
{%- endmacro %}
{% macro default__text_starts_with(text, prefix) -%}
    starts_with({{ text }}, {{ prefix }})
{%- endmacro %}
{% macro spark__text_starts_with(text, prefix) -%}
    startswith({{ text }}, {{ prefix }})
{%- endmacro %}

{# replace every match of a regular expression; groups are written \1 (Spark's Java regex: $1) #}
{% macro regexp_replace_all(text, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all')(text, pattern, replacement)) }}
{%- endmacro %}
{% macro default__regexp_replace_all(text, pattern, replacement) -%}
    regexp_replace({{ text }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}
{% macro spark__regexp_replace_all(text, pattern, replacement) -%}
    {#- Spark string literals treat a backslash as an escape: double it #}
    regexp_replace({{ text }}, '{{ pattern | replace("\\", "\\\\") }}',
        '{{ replacement | replace("\\", "$") }}')
{%- endmacro %}

{# a timestamp as text, YYYY-MM-DD HH:MM:SS #}
{% macro timestamp_text(ts) -%}
    {{ return(adapter.dispatch('timestamp_text')(ts)) }}
{%- endmacro %}
{% macro default__timestamp_text(ts) -%}
    strftime({{ ts }}, '%Y-%m-%d %H:%M:%S')
{%- endmacro %}
{% macro spark__timestamp_text(ts) -%}
    date_format({{ ts }}, 'yyyy-MM-dd HH:mm:ss')
{%- endmacro %}

{# whole seconds from start to end (timestamps) #}
{% macro seconds_between(start, end) -%}
    {{ return(adapter.dispatch('seconds_between')(start, end)) }}
{%- endmacro %}
{% macro default__seconds_between(start, end) -%}
    date_diff('second', {{ start }}, {{ end }})
{%- endmacro %}
{% macro spark__seconds_between(start, end) -%}
    timestampdiff(SECOND, {{ start }}, {{ end }})
{%- endmacro %}

{# whole days from start to end (dates) #}
{% macro days_between(start, end) -%}
    {{ return(adapter.dispatch('days_between')(start, end)) }}
{%- endmacro %}
{% macro default__days_between(start, end) -%}
    date_diff('day', {{ start }}, {{ end }})
{%- endmacro %}
{% macro spark__days_between(start, end) -%}
    datediff({{ end }}, {{ start }})
{%- endmacro %}

{#
    One row per timestamp from first down to last in steps of every_days days (both ends
    included when reached), as column snapshot_at: a table expression for a FROM clause.
#}
{% macro descending_day_spine(first, last, every_days, relation) -%}
    {{ return(adapter.dispatch('descending_day_spine')(first, last, every_days, relation)) }}
{%- endmacro %}
{% macro default__descending_day_spine(first, last, every_days, relation) -%}
    (select unnest(range({{ first }}, {{ last }} - interval 1 microsecond,
        -to_days({{ every_days }}))) as snapshot_at from {{ relation }})
{%- endmacro %}
{% macro spark__descending_day_spine(first, last, every_days, relation) -%}
    (select explode(sequence({{ first }}, {{ last }},
        make_dt_interval(-{{ every_days }}))) as snapshot_at from {{ relation }})
{%- endmacro %}

{#
    Every row of lines with snapshot_at, the first snapshot strictly after its ordered_at (rows
    with none are dropped): an ASOF join on DuckDB; Spark SQL has none, so each snapshot
    becomes the window (previous snapshot, snapshot] joined by range (snapshots are few and
    broadcast). Same rows either way.
#}
{% macro lines_in_next_snapshot(lines, snapshots) -%}
    {{ return(adapter.dispatch('lines_in_next_snapshot')(lines, snapshots)) }}
{%- endmacro %}
{% macro default__lines_in_next_snapshot(lines, snapshots) -%}
    select {{ lines }}.*, {{ snapshots }}.snapshot_at
    from {{ lines }}
    asof join {{ snapshots }}
        on {{ lines }}.ordered_at < {{ snapshots }}.snapshot_at
{%- endmacro %}
{% macro spark__lines_in_next_snapshot(lines, snapshots) -%}
    select /*+ BROADCAST(windows) */ {{ lines }}.*, windows.snapshot_at
    from {{ lines }}
    inner join (
        select snapshot_at, lag(snapshot_at) over (order by snapshot_at) as previous_at
        from {{ snapshots }}
    ) as windows
        on {{ lines }}.ordered_at < windows.snapshot_at
        and ({{ lines }}.ordered_at >= windows.previous_at or windows.previous_at is null)
{%- endmacro %}

{# an interval of n days, to add to a timestamp #}
{% macro days_interval(n) -%}
    {{ return(adapter.dispatch('days_interval')(n)) }}
{%- endmacro %}
{% macro default__days_interval(n) -%}
    to_days({{ n }})
{%- endmacro %}
{% macro spark__days_interval(n) -%}
    make_dt_interval({{ n }})
{%- endmacro %}

{#
    numerator / denominator as a double. DuckDB divides decimals (exact_sum's decimal(38, 6),
    a literal like 86400.0) as doubles; Spark keeps a decimal, rounded to 6 or 7 places
    (decimal(28, 7) for seconds / 86400.0), so it divides doubles explicitly.
#}
{% macro ratio(numerator, denominator) -%}
    {{ return(adapter.dispatch('ratio')(numerator, denominator)) }}
{%- endmacro %}
{% macro default__ratio(numerator, denominator) -%}
    {{ numerator }} / {{ denominator }}
{%- endmacro %}
{% macro spark__ratio(numerator, denominator) -%}
    cast({{ numerator }} as double) / {{ denominator }}
{%- endmacro %}
