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

{#- The state a movement leaves its unit in, given whether the unit's DIN was released and the
    unit produced up to and including that movement. quarantine, available and in_transit are
    stock (see stock_states); pending = released before the component was recorded. -#}
{% macro movement_state(movement, released, produced) -%}
    multiIf(
        {{ movement }} = 'collected', 'quarantine',
        {{ movement }} = 'processed', 'processed',
        {{ movement }} = 'produced', if({{ released }}, 'available', 'quarantine'),
        {{ movement }} = 'released', if({{ produced }}, 'available', 'pending'),
        {{ movement }} = 'shipped', 'in_transit',
        {{ movement }} in ('received', 'returned'), 'available',
        {{ movement }} = 'issued', 'issued',
        {{ movement }} = 'transfused', 'transfused',
        'discarded'
    )
{%- endmacro %}

{#- Rows of an incremental model built on an append-only model `source_relation`: only those
    appended since this model's last run (by built_at). -#}
{% macro built_after_watermark(column='built_at', watermark_column='source_built_at') -%}
    {{ column }} > (select max({{ watermark_column }}) from {{ this }})
{%- endmacro %}
