{#
    Every row's (columns) combination exists in the parent model: a multi-column relationships test.
#}
{% test composite_relationship(model, columns, to) %}

select child.*
from {{ model }} as child
left join {{ to }} as parent
    using ({{ columns | join(', ') }})
where parent.{{ columns[0] }} is null

{% endtest %}
