{#- Local calendar day of a UTC timestamp: days and months are counted in the city's time
    zone (var local_timezone), not in UTC. -#}
{% macro local_date(column) -%}
    toDate({{ column }}, '{{ var("local_timezone") }}')
{%- endmacro %}
