{#- Unit counting (GB 18467-2011 and 无偿献血奉献奖 rules); every figure comes from a var.
    Units are Decimal(18, 3): 307 ml is exactly 1.535 units, so sums do not depend on the order
    ClickHouse adds them in (an incremental run and a full refresh agree to the last digit).
    Marts convert sums to Float64 with to_units_out. -#}

{#- Units of a collection: whole blood and apheresis plasma by volume (200 ml = 1 unit),
    apheresis platelets by therapeutic dose (治疗量). -#}
{% macro collection_units(donation_kind, volume_ml, therapeutic_units) -%}
    multiIf(
        {{ donation_kind }} = 'apheresis_platelets', toDecimal64({{ therapeutic_units }}, 3),
        toDecimal64({{ volume_ml }}, 3) / {{ var('ml_per_unit') }}
    )
{%- endmacro %}

{#- What a donation counts towards honours: each 200 ml of whole blood counts 1, each platelet
    therapeutic unit counts 1; the rule counts nothing else (apheresis plasma counts 0). -#}
{% macro honour_count(donation_kind, volume_ml, therapeutic_units) -%}
    multiIf(
        {{ donation_kind }} = 'whole_blood', toDecimal64({{ volume_ml }}, 3) / {{ var('ml_per_unit') }},
        {{ donation_kind }} = 'apheresis_platelets', toDecimal64({{ therapeutic_units }}, 3),
        toDecimal64(0, 3)
    )
{%- endmacro %}

{#- Units of one component: an apheresis platelet component is one therapeutic dose; anything
    made from a donation counts the donation's volume (a red-cell bag from 400 ml whole blood
    is 2 units). Without a known parent donation, the component's own volume. -#}
{% macro component_units(donation_kind, parent_volume_ml, component_volume_ml) -%}
    multiIf(
        {{ donation_kind }} = 'apheresis_platelets', toDecimal64(1, 3),
        {{ parent_volume_ml }} > 0, toDecimal64({{ parent_volume_ml }}, 3) / {{ var('ml_per_unit') }},
        toDecimal64({{ component_volume_ml }}, 3) / {{ var('ml_per_unit') }}
    )
{%- endmacro %}

{#- A sum of units as the Float64 a dashboard reads (exact to the 3 decimals units have). -#}
{% macro to_units_out(expression) -%}
    round(toFloat64({{ expression }}), 3)
{%- endmacro %}
