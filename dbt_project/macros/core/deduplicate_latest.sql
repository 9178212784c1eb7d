{#- The latest version of every key of `relation` (a CTE name): rank rows per key by `order_by`
    (a list of "column [desc]") and keep rank 1. Portable SQL (no QUALIFY). The result has the
    columns of `relation` plus `_dedupe_rank`; select the columns you want from it. -#}
{% macro deduplicate_latest(relation, key_columns, order_by) -%}
    select *
    from (
        select
            {{ relation }}.*,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by {{ order_by | join(', ') }}
            ) as _dedupe_rank
        from {{ relation }}
    ) as ranked
    where _dedupe_rank = 1
{%- endmacro %}

{#- The usual recency order of raw versions: latest updated_at, then latest partition, then the latest
    load and the last row of the file. -#}
{% macro latest_version_order(updated_at_column='updated_at_utc') -%}
    {%- set order = [] -%}
    {%- if updated_at_column -%}{%- do order.append(updated_at_column ~ ' desc nulls last') -%}{%- endif -%}
    {%- do order.extend(['_partition_date desc', '_loaded_at desc', '_row_number desc']) -%}
    {{ return(order) }}
{%- endmacro %}
