{#- Generic test: the combination of `columns` is unique (rows returned = duplicated keys). -#}
{% test kpi_unique_key(model, columns) %}
select {{ columns | join(', ') }}, count(*) as row_count
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
