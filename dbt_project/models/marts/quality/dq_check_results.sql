{#- The outcome of every check of every dbt invocation. This model only creates the table (it selects
    no rows and is never fully refreshed); the on-run-end hook `dq_record_check_results` appends the
    results of each invocation, failed ones included (macros/quality/dq_check_results.sql). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=false,
    on_schema_change='append_new_columns',
) }}

select
    {%- for name, type in dq_check_results_columns() %}
    cast(null as {{ type }}) as {{ name }}{% if not loop.last %},{% endif %}
    {%- endfor %}
where 1 = 0
