{#- (KPI version, scope root): the org subtrees a version applies to, and the depth limit below them. -#}
{%- set catalog = kpi_compiled_catalog() -%}
{%- set rows = [] -%}
{%- for v in catalog['versions'] -%}
    {%- for root in v['scope'] -%}
        {%- do rows.append({'kpi_id': v['kpi_id'], 'kpi_version': v['version'], 'scope_root_id': root,
                            'scope_max_depth': v['scope_max_depth']}) -%}
    {%- endfor -%}
{%- endfor -%}

with version_scopes as (
    {{ kpi_rows(rows, [('kpi_id', 'string'), ('kpi_version', 'integer'), ('scope_root_id', 'string'),
                       ('scope_max_depth', 'integer')]) }}
),

final as (
    select * from version_scopes
)

select * from final
