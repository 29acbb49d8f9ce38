{#- Collections at one grain x county x site x site kind x donor group x donation kind, in
    donations and in units (200 ml whole blood = 1 unit; apheresis platelets by therapeutic
    dose). One body for the daily, monthly and yearly marts: distinct donors need the donation
    rows, so a coarser grain is not a roll-up of a finer one. `period_columns` are the
    donations' time columns the grain keeps, first in the output and in the grouping. -#}
{% macro collections_by(period_columns, donations) -%}
    {%- set dimensions = period_columns + [
        'county_code', 'site_id', 'site_kind', 'donor_group', 'donation_kind'
    ] -%}
    select
        {%- for column in dimensions %}
        {{ column }},
        {%- endfor %}
        count() as donations,
        countIf(first_time) as first_time_donations,
        uniqExact(donor_id) as donors,
        sum(volume_ml) as volume_ml,
        {{ to_units_out('sum(units)') }} as units,
        sum(therapeutic_units) as therapeutic_units
    from {{ donations }}
    group by {{ dimensions | join(', ') }}
{%- endmacro %}
