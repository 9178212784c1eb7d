{#- The strategic objectives of the catalog. -#}
{%- set catalog = kpi_compiled_catalog() -%}

with objectives as (
    {{ kpi_rows(catalog['objectives'], [('objective_id', 'string'), ('name', 'string'), ('name_zh', 'string'),
                                        ('description', 'string'), ('owner_org_unit_id', 'string'),
                                        ('catalog_file', 'string')]) }}
),

final as (
    select objective_id, name, name_zh, description, owner_org_unit_id, catalog_file from objectives
)

select * from final
