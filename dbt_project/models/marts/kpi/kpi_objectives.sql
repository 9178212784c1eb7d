{#- The strategic objectives of the catalog. -#}
{%- set catalog = kpi_compiled_catalog() -%}

with objectives as (
    {{ kpi_rows(catalog['objectives'], [('objective_id', 'varchar'), ('name', 'varchar'), ('name_zh', 'varchar'),
                                        ('description', 'varchar'), ('owner_org_unit_id', 'varchar'),
                                        ('catalog_file', 'varchar')]) }}
),

final as (
    select objective_id, name, name_zh, description, owner_org_unit_id, catalog_file from objectives
)

select * from final
