{#- Nothing lost: rows_read = rows_loaded + rows_quarantined for every partition in the load log. -#}
select *
from {{ ref('dq_load_log') }}
where rows_read <> coalesce(rows_loaded, 0) + coalesce(rows_quarantined, 0)
