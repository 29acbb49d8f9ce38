{#- An append-only, sign-collapsing model (fct_unit_movements): each key has exactly one live
    version, i.e. its signs sum to 1. -#}
{% test one_live_version(model, column_name) %}

select {{ column_name }}, sum(sign) as live_versions
from {{ model }}
group by {{ column_name }}
having live_versions != 1

{% endtest %}
