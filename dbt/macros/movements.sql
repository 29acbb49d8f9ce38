{#- States in which a unit is part of a facility's stock (days of supply count `available`). -#}
{% macro stock_states() -%}
    ('quarantine', 'available', 'in_transit')
{%- endmacro %}

{#- The table an incremental run of a model stages its touched DINs in (see stage_touched_units). -#}
{% macro touched_units_relation() -%}
    {{ this.schema }}.`{{ this.identifier }}__touched_units`
{%- endmacro %}

{#- Pre-hook of an incremental model keyed by DIN: stage, once, the DINs with a row ingested
    since the model's watermark in any of `source_models`. Staged in a table rather than a CTE
    because ClickHouse inlines a CTE at every use, and the model filters nine sources by it.
    Outside an incremental run there is nothing to stage. -#}
{% macro stage_touched_units(source_models) -%}
    {%- if is_incremental() -%}
    create or replace table {{ touched_units_relation() }} engine = Memory as
    {% for source_model in source_models %}
    select din from {{ ref(source_model) }} where {{ ingested_after_watermark() }}
    {% if not loop.last %}union distinct{% endif %}
    {% endfor %}
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{% macro drop_touched_units() -%}
    drop table if exists {{ touched_units_relation() }}
{%- endmacro %}

{#- In an incremental run, keep only the DINs staged by stage_touched_units. -#}
{% macro only_touched_units(column='din') -%}
    {%- if is_incremental() %}
    where {{ column }} in (select din from {{ touched_units_relation() }})
    {%- endif %}
{%- endmacro %}
