{#- Every KPI version of the compiled catalog, one row each, every field (lists as list values). -#}
{%- set catalog = kpi_compiled_catalog() -%}
{%- set columns = [
    ('kpi_id', 'string'), ('version', 'integer'), ('valid_from', 'date'), ('valid_to', 'date'),
    ('is_current', 'boolean'), ('reason', 'string'), ('name', 'string'), ('name_zh', 'string'),
    ('description', 'string'), ('objective_id', 'string'), ('owner_org_unit_id', 'string'),
    ('owner_employee_id', 'string'), ('unit', 'string'), ('direction', 'string'),
    ('measure_type', 'string'), ('measure_model', 'string'), ('measure_expression', 'string'),
    ('measure_filter', 'string'), ('time_column', 'string'), ('org_column', 'string'),
    ('numerator', 'string'), ('denominator', 'string'), ('percentile', 'double'),
    ('formula', 'string'), ('scale', 'double'), ('is_additive', 'boolean'),
    ('scope_max_depth', 'integer'), ('amber_threshold', 'double'), ('score_cap', 'double'),
    ('target_rule', 'string'), ('target_rule_value', 'double'), ('target_low', 'double'),
    ('target_high', 'double'), ('catalog_file', 'string'), ('definition_hash', 'string'),
    ('derived_level', 'integer'), ('value_min', 'double'), ('value_max', 'double'), ('range_source', 'string'),
] -%}

with catalog_versions as (
    {%- if catalog['versions'] | length == 0 %}
    {%- set list_type = kpi_string_list_type() %}
    {{ kpi_rows([], columns + [('grains', list_type), ('scope', list_type), ('target_org_units', list_type),
                               ('target_unit_types', list_type),
                               ('target_month', 'double'), ('target_quarter', 'double'), ('target_year', 'double')]) }}
    {%- endif %}
    {%- for v in catalog['versions'] %}
    select
        {%- for name, type in columns %}
        {{ kpi_lit(v[name], type) }} as {{ name }},
        {%- endfor %}
        {{ kpi_string_list(v['grains']) }} as grains,
        {{ kpi_string_list(v['scope']) }} as scope,
        {{ kpi_string_list(v['target_org_units']) }} as target_org_units,
        {{ kpi_string_list(v.get('target_unit_types', [])) }} as target_unit_types,
        {{ kpi_lit(v['target_by_grain']['month'], 'double') }} as target_month,
        {{ kpi_lit(v['target_by_grain']['quarter'], 'double') }} as target_quarter,
        {{ kpi_lit(v['target_by_grain']['year'], 'double') }} as target_year
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

final as (
    select * from catalog_versions
)

select * from final
