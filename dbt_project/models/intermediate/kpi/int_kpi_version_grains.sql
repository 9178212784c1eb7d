{#- (KPI version, grain) for every grain a version reports at: the catalog's `grains` as rows. -#}
{%- set catalog = kpi_compiled_catalog() -%}
{%- set rows = [] -%}
{%- for v in catalog['versions'] -%}
    {%- for g in v['grains'] -%}
        {%- do rows.append({'kpi_id': v['kpi_id'], 'kpi_version': v['version'], 'grain': g,
                            'valid_from': v['valid_from'], 'valid_to': v['valid_to']}) -%}
    {%- endfor -%}
{%- endfor -%}

with version_grains as (
    {{ kpi_rows(rows, [('kpi_id', 'string'), ('kpi_version', 'integer'), ('grain', 'string'),
                       ('valid_from', 'date'), ('valid_to', 'date')]) }}
),

final as (
    select * from version_grains
)

select * from final
