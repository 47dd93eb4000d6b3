{#
    Classify an (upper-cased, trimmed) stock code as a product or as one of the kinds of
    non-product line that order exports carry: postage, fee, adjustment, test or voucher.
    The lists live in dbt_project.yml vars so a shop with other codes can override them.
#}
{% macro line_type(stock_code) -%}
    case
    {%- for code, kind in var('non_product_stock_codes').items() %}
        when {{ stock_code }} = '{{ code | upper }}' then '{{ kind }}'
    {%- endfor %}
    {%- for prefix in var('voucher_stock_code_prefixes') %}
        when {{ text_starts_with(stock_code, "'" ~ (prefix | upper) ~ "'") }} then 'voucher'
    {%- endfor %}
        else 'product'
    end
{%- endmacro %}
