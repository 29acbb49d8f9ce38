{#- An append-only, sign-collapsing model (fct_unit_movements): each key has at most one live
    version. Its signs sum to 1, or to 0 when a later event removed the movement altogether (a
    discard recorded against a whole donation before its components were known now covers the
    components instead); and no single version (key, row_hash) is cancelled more often than it
    was appended, or live twice. -#}
{% test one_live_version(model, column_name) %}

with versions as (

    select {{ column_name }} as movement_key, row_hash, sum(sign) as live
    from {{ model }}
    group by movement_key, row_hash

)

select
    movement_key,
    sum(live) as live_versions,
    min(live) as least_live,
    max(live) as most_live
from versions
group by movement_key
having live_versions not in (0, 1) or least_live < 0 or most_live > 1

{% endtest %}
