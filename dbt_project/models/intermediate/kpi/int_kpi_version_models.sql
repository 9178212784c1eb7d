{#- (KPI version, fact model) for every fact a version's value depends on (derived: through its references). -#}
{%- set catalog = kpi_compiled_catalog() -%}
{%- set rows = [] -%}
{%- for v in catalog['versions'] -%}
    {%- for m in v['source_models'] -%}
        {%- do rows.append({'kpi_id': v['kpi_id'], 'kpi_version': v['version'], 'measure_model': m}) -%}
    {%- endfor -%}
{%- endfor -%}

with version_models as (
    {{ kpi_rows(rows, [('kpi_id', 'string'), ('kpi_version', 'integer'), ('measure_model', 'string')]) }}
),

final as (
    select * from version_models
)

select * from final
