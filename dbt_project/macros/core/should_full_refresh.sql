{#- dbt's should_full_refresh() (global_project/macros/materializations/configs.sql), plus: an
    incremental model with `meta: {rebuild_when_columns_change: true}` whose existing table has other
    columns than the model documents is rebuilt whole instead of merged.

    The documented columns (the model's YAML) stand for what the model selects: dbt asks this macro
    while compiling the model (`is_incremental()`), before the compiled SQL exists, and both answers
    must agree — the full select for a full build. tests/dbt/test_core_models.py keeps the facts'
    documented columns equal to the built ones.

    The large facts are incremental: a new release that adds, drops or renames a fact column would
    otherwise fail every night on an existing warehouse (`on_schema_change: fail`) until someone ran
    `dbt build --full-refresh` by hand, or (with append_new_columns) leave the column null on every
    old row. An incremental fact must equal a full build, so a change of its columns means one. A
    model configured `full_refresh: false` (the run log) is never rebuilt. -#}
{% macro should_full_refresh() %}
  {%- set config_full_refresh = config.get('full_refresh') -%}
  {%- if config_full_refresh is none -%}
    {%- set config_full_refresh = flags.FULL_REFRESH -%}
  {%- endif -%}
  {%- if config_full_refresh or config.get('full_refresh') is sameas false -%}
    {%- do return(config_full_refresh) -%}
  {%- endif -%}
  {%- if execute and model.resource_type == 'model' and config.get('materialized') == 'incremental'
        and (config.get('meta') or {}).get('rebuild_when_columns_change') -%}
    {%- set existing = load_relation(this) -%}
    {%- if existing is not none and not existing.is_view -%}
      {%- set have = adapter.get_columns_in_relation(existing) | map(attribute='name') | map('lower') | list -%}
      {%- set want = model.columns.keys() | map('lower') | list -%}
      {%- if want and have | sort != want | sort -%}
        {{ log(this ~ ": its columns changed (table: " ~ (have | sort | reject('in', want) | join(', ') or 'nothing else')
               ~ "; model: " ~ (want | sort | reject('in', have) | join(', ') or 'nothing else')
               ~ "), rebuilt whole instead of merged", info=true) }}
        {%- do return(true) -%}
      {%- endif -%}
    {%- endif -%}
  {%- endif -%}
  {%- do return(config_full_refresh) -%}
{% endmacro %}
