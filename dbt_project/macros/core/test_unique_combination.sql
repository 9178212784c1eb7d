{#- Generic test: no two rows of `model` share the same values of `columns` (a composite key).
    Usage (dbt 1.11):
      data_tests:
        - unique_combination:
            arguments:
              columns: [date_day, org_unit_id]
-#}
{% test unique_combination(model, columns) %}
    {#- quoted for the engine (a column may be a keyword such as `table`) -#}
    {%- set quoted = [] -%}
    {%- for column in columns -%}{%- do quoted.append(adapter.quote(column)) -%}{%- endfor %}
    select
        {{ quoted | join(', ') }},
        count(*) as n_rows
    from {{ model }}
    group by {{ quoted | join(', ') }}
    having count(*) > 1
{% endtest %}
