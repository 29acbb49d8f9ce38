{#- A model's grain: no two rows share these columns (dbt_utils' test, without the package:
    the project must build offline). -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

select
    {{ combination_of_columns | join(', ') }},
    count() as rows_in_grain
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having rows_in_grain > 1

{% endtest %}
