-- Wastage rate (报废率) per month x component type x cause, city-wide:
--   wastage_rate_pct = units of the type discarded for the cause in the month
--                      / units of the type PRODUCED in the month x 100
-- (units produced: see int_wastage_monthly). Cause 'all' is every cause together, with one
-- row for each type produced or discarded that month, so a type with no discards shows 0 %.
-- The rate is null when nothing of the type was produced that month (units made earlier can
-- still expire), with the reason in rate_note.
{{ config(engine='MergeTree()', order_by='(waste_month, component_type, cause)') }}

with

parts as (

    select * from {{ ref('int_wastage_monthly') }}

),

produced as (

    select
        waste_month,
        component_type,
        sum(produced_units) as produced_units
    from parts
    group by waste_month, component_type

),

by_cause as (

    select
        waste_month,
        component_type,
        cause,
        sum(discarded_components) as discarded_components,
        sum(discarded_units) as discarded_units,
        sum(discarded_volume_ml) as discarded_volume_ml
    from parts
    where cause != ''
    group by waste_month, component_type, cause

),

all_causes as (

    -- every type produced or discarded in the month, discards or not
    select
        waste_month,
        component_type,
        'all' as cause,
        sum(discarded_components) as discarded_components,
        sum(discarded_units) as discarded_units,
        sum(discarded_volume_ml) as discarded_volume_ml
    from parts
    group by waste_month, component_type

),

combined as (

    select * from by_cause
    union all
    select * from all_causes

),

final as (

    select
        combined.waste_month as waste_month,
        combined.component_type as component_type,
        combined.cause as cause,
        combined.discarded_components as discarded_components,
        {{ to_units_out('combined.discarded_units') }} as discarded_units,
        combined.discarded_volume_ml as discarded_volume_ml,
        {{ to_units_out('ifNull(produced.produced_units, 0)') }} as produced_units,
        if(
            produced_units > 0,
            round(toFloat64(combined.discarded_units) / produced_units * 100, 4),
            null
        ) as wastage_rate_pct,
        if(produced_units > 0, '', 'nothing of this type produced this month') as rate_note
    from combined
    left join produced
        on combined.waste_month = produced.waste_month
            and combined.component_type = produced.component_type

)

select * from final
