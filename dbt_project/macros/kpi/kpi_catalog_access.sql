{#-
    Access to the compiled KPI catalog.

    `kpi_catalog()` is generated into macros/generated/kpi_catalog.sql by
    quality.catalog.compile_and_write(catalog_dir, dbt_project_dir), which the pipeline runs before
    dbt. The generated folder is gitignored; an invalid catalog never replaces the last valid file.
-#}

{% macro kpi_compiled_catalog() -%}
    {#- Called directly (not looked up by name) so that dbt records the dependency on the generated
        macro: when the compiled catalog changes, partial parsing re-parses every KPI model. -#}
    {%- if kpi_catalog is defined -%}
        {{ return(kpi_catalog()) }}
    {%- endif -%}
    {%- if execute -%}
        {{ exceptions.raise_compiler_error(
            "The KPI catalog is not compiled: run quality.catalog.compile_and_write("
            ~ "'dbt_project/catalog', 'dbt_project') (the pipeline does this before dbt).") }}
    {%- endif -%}
    {{ return({'objectives': [], 'versions': [], 'passes': [], 'weights': [], 'kpi_ids': [],
               'derived_levels': 0, 'catalog_hash': 'not-compiled'}) }}
{%- endmacro %}


{#- A SQL literal of a Python/JSON value, cast to `type` (nulls typed so unions line up). -#}
{% macro kpi_lit(value, type) -%}
    {%- if value is none -%}
        cast(null as {{ type }})
    {%- elif value is sameas true -%}
        true
    {%- elif value is sameas false -%}
        false
    {%- elif value is number -%}
        cast({{ value }} as {{ type }})
    {%- else -%}
        cast('{{ value | string | replace("'", "''") }}' as {{ type }})
    {%- endif -%}
{%- endmacro %}


{#- A list of strings as a SQL list value (DuckDB: a varchar[]). -#}
{% macro kpi_string_list(values) -%}
    {{ return(adapter.dispatch('kpi_string_list', 'kpi_warehouse')(values)) }}
{%- endmacro %}

{% macro default__kpi_string_list(values) -%}
    array[{% for v in values %}'{{ v | replace("'", "''") }}'{% if not loop.last %}, {% endif %}{% endfor %}]
{%- endmacro %}

{% macro duckdb__kpi_string_list(values) -%}
    cast([{% for v in values %}'{{ v | replace("'", "''") }}'{% if not loop.last %}, {% endif %}{% endfor %}] as {{ kpi_string_list_type() }})
{%- endmacro %}

{% macro spark__kpi_string_list(values) -%}
    cast(array({% for v in values %}'{{ v | replace("'", "''") }}'{% if not loop.last %}, {% endif %}{% endfor %}) as {{ kpi_string_list_type() }})
{%- endmacro %}

{#- The SQL type of kpi_string_list's values. -#}
{% macro kpi_string_list_type() -%}
    {{ return(adapter.dispatch('kpi_string_list_type', 'kpi_warehouse')()) }}
{%- endmacro %}

{% macro default__kpi_string_list_type() -%}
    {{ dbt.type_string() }}[]
{%- endmacro %}

{% macro spark__kpi_string_list_type() -%}
    array<string>
{%- endmacro %}


{#- Rows of (column: type) dicts as a relation: `select ... union all select ...`; an empty list
    gives an empty relation with the same columns. -#}
{% macro kpi_rows(rows, columns) -%}
    {%- if rows | length == 0 -%}
        select {% for name, type in columns %}cast(null as {{ type }}) as {{ name }}{% if not loop.last %}, {% endif %}{% endfor %}
        where 1 = 0
    {%- else -%}
        {%- for row in rows %}
        select {% for name, type in columns %}{{ kpi_lit(row.get(name), type) }} as {{ name }}{% if not loop.last %}, {% endif %}{% endfor %}
        {%- if not loop.last %}
        union all
        {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}


{#- SQL the catalog compiler wrote (derived formulas): identifiers in ANSI double quotes, literals in
    single quotes. Engines that quote identifiers otherwise get them re-quoted. -#}
{% macro kpi_catalog_sql(text) -%}
    {{ return(adapter.dispatch('kpi_catalog_sql', 'kpi_warehouse')(text)) }}
{%- endmacro %}

{% macro default__kpi_catalog_sql(text) -%}
    {{ return(text) }}
{%- endmacro %}

{% macro spark__kpi_catalog_sql(text) -%}
    {{ return(modules.re.sub('"([^"`]+)"', '`\\1`', text)) }}
{%- endmacro %}
