{#- Seeds on Spark (the file_format of every Spark table is Parquet: dbt_project.yml). dbt-spark's own `spark__load_csv_rows` hands the values to the `session` method as
    bindings, which it pastes into the SQL without escaping (a seed value such as "New Year's Day"
    breaks the statement); here every value is a literal escaped for Spark (dbt.escape_single_quotes). -#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set batch_size = get_batch_size() -%}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(batch_size) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for col_name in agate_table.column_names -%}
                    {%- set type = column_override.get(col_name, adapter.convert_type(agate_table, loop.index0)) -%}
                    {%- set value = row[loop.index0] -%}
                    {%- if value is none -%}cast(null as {{ type }})
                    {%- else -%}cast('{{ dbt.escape_single_quotes(value | string) }}' as {{ type }})
                    {%- endif -%}
                    {%- if not loop.last %},{% endif -%}
                {%- endfor -%})
                {%- if not loop.last %},{% endif %}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.index0 == 0 -%}{%- do statements.append(sql) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(statements[0] if statements else '') }}
{% endmacro %}


{#- A seed's table. Spark writes no file for a table that gets no rows, and whoever reads the table's
    folder (pipelines/engines/spark.py) then cannot see its columns: an empty seed is created by a
    create-as-select, which writes a file holding only the columns. -#}
{% macro spark__create_csv_table(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set quote_seed_column = model['config'].get('quote_columns', None) -%}
    {%- set columns = [] -%}
    {%- for col_name in agate_table.column_names -%}
        {%- set type = column_override.get(col_name, adapter.convert_type(agate_table, loop.index0)) -%}
        {%- do columns.append((adapter.quote_seed_column(col_name | string, quote_seed_column), type)) -%}
    {%- endfor -%}
    {%- set sql -%}
        create table {{ this.render() }}
        {%- if agate_table.rows | length == 0 %}
        {{ file_format_clause() }}
        {{ location_clause() }}
        as select {% for name, type in columns %}cast(null as {{ type }}) as {{ name }}{% if not loop.last %}, {% endif %}{% endfor %}
        where 1 = 0
        {%- else %} (
            {%- for name, type in columns %}{{ name }} {{ type }}{% if not loop.last %}, {% endif %}{% endfor -%}
        )
        {{ file_format_clause() }}
        {{ partition_cols(label="partitioned by") }}
        {{ clustered_cols(label="clustered by") }}
        {{ location_clause() }}
        {{ comment_clause() }}
        {%- endif %}
    {%- endset -%}
    {%- call statement('_') -%}{{ sql }}{%- endcall -%}
    {{ return(sql) }}
{% endmacro %}
