{#- Every KPI version of the compiled catalog, one row each, every field (lists as list values). -#}
{%- set catalog = kpi_compiled_catalog() -%}
{%- set columns = [
    ('kpi_id', 'varchar'), ('version', 'integer'), ('valid_from', 'date'), ('valid_to', 'date'),
    ('is_current', 'boolean'), ('reason', 'varchar'), ('name', 'varchar'), ('name_zh', 'varchar'),
    ('description', 'varchar'), ('objective_id', 'varchar'), ('owner_org_unit_id', 'varchar'),
    ('owner_employee_id', 'varchar'), ('unit', 'varchar'), ('direction', 'varchar'),
    ('measure_type', 'varchar'), ('measure_model', 'varchar'), ('measure_expression', 'varchar'),
    ('measure_filter', 'varchar'), ('time_column', 'varchar'), ('org_column', 'varchar'),
    ('numerator', 'varchar'), ('denominator', 'varchar'), ('percentile', 'double'),
    ('formula', 'varchar'), ('scale', 'double'), ('is_additive', 'boolean'),
    ('scope_max_depth', 'integer'), ('amber_threshold', 'double'), ('score_cap', 'double'),
    ('target_rule', 'varchar'), ('target_rule_value', 'double'), ('target_low', 'double'),
    ('target_high', 'double'), ('catalog_file', 'varchar'), ('definition_hash', 'varchar'),
    ('derived_level', 'integer'), ('value_min', 'double'), ('value_max', 'double'), ('range_source', 'varchar'),
] -%}

with catalog_versions as (
    {%- if catalog['versions'] | length == 0 %}
    {{ kpi_rows([], columns + [('grains', 'varchar[]'), ('scope', 'varchar[]'), ('target_org_units', 'varchar[]'),
                               ('target_unit_types', 'varchar[]'),
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
