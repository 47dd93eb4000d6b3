{#
    Sum doubles exactly: DuckDB adds floats in whatever order its threads finish, so a plain
    sum(double) can differ in the last bit between two runs on the same data. Summing as
    DECIMAL(38, 6) is exact, so the marts are identical run after run (amounts have at most
    a few decimals, prices down to 0.001).
#}
{% macro exact_sum(expression) -%}
    sum(cast({{ expression }} as decimal(38, 6)))
{%- endmacro %}
