-- Supply and demand per year, against a baseline year (var baseline_year; null = per component
-- type, the first year with both supply and demand): "clinical use +x% vs the baseline,
-- collection only +y%", and the gap.
-- component_type 'all': supply = collection units, demand = units transfused of the types that
-- count toward total demand (seed component_types; plasma and cryoprecipitate are left out as
-- they come from the same donations as red cells). Per component type: units produced vs
-- units transfused.
{{ config(engine='MergeTree()', order_by='(component_type, supply_year)') }}

with

donations as (

    select * from {{ ref('fct_donations') }}

),

movements as (

    select * from {{ ref('int_movements_daily') }}
    where movement in ('produced', 'transfused') and not whole_donation

),

component_types as (

    select * from {{ ref('component_types') }}

),

per_component as (

    select
        toYear(moved_on) as supply_year,
        component_type,
        sumIf(units, movement = 'produced') as supply_units,
        sumIf(units, movement = 'transfused') as demand_units
    from movements
    group by supply_year, component_type

),

city_supply as (

    select
        collected_year as supply_year,
        sum(units) as supply_units
    from donations
    group by supply_year

),

city_demand as (

    select
        per_component.supply_year as supply_year,
        sum(per_component.demand_units) as demand_units
    from per_component
    inner join component_types on per_component.component_type = component_types.component_type
    where component_types.counts_toward_total_demand = 1
    group by supply_year

),

city as (

    select
        supply_year,
        'all' as component_type,
        city_supply.supply_units as supply_units,
        city_demand.demand_units as demand_units
    from city_supply
    full outer join city_demand using (supply_year)

),

yearly as (

    select
        supply_year,
        component_type,
        supply_units,
        demand_units
    from city
    union all
    select
        supply_year,
        component_type,
        supply_units,
        demand_units
    from per_component

),

baseline_years as (

    select
        component_type,
        {%- if var('baseline_year') is none %}
            minIfOrNull(supply_year, supply_units > 0 and demand_units > 0) as baseline_year
        {%- else %}
            toNullable(toUInt16({{ var('baseline_year') }})) as baseline_year
        {%- endif %}
    from yearly
    group by component_type

),

baseline_values as (

    select
        yearly.component_type as component_type,
        baseline_years.baseline_year as baseline_year,
        yearly.supply_units as baseline_supply_units,
        yearly.demand_units as baseline_demand_units
    from yearly
    inner join baseline_years
        on yearly.component_type = baseline_years.component_type
            and yearly.supply_year = baseline_years.baseline_year

),

final as (

    select
        yearly.supply_year as supply_year,
        yearly.component_type as component_type,
        baseline_values.baseline_year as baseline_year,
        {{ to_units_out('yearly.supply_units') }} as supply_units,
        {{ to_units_out('yearly.demand_units') }} as demand_units,
        {{ to_units_out('yearly.demand_units - yearly.supply_units') }} as gap_units,
        if(
            baseline_values.baseline_supply_units > 0,
            round(
                (
                    toFloat64(yearly.supply_units)
                    / toFloat64(baseline_values.baseline_supply_units)
                    - 1
                )
                * 100,
                2
            ),
            null
        ) as supply_growth_pct,
        if(
            baseline_values.baseline_demand_units > 0,
            round(
                (
                    toFloat64(yearly.demand_units)
                    / toFloat64(baseline_values.baseline_demand_units)
                    - 1
                )
                * 100,
                2
            ),
            null
        ) as demand_growth_pct,
        round(demand_growth_pct - supply_growth_pct, 2) as growth_gap_pct_points
    from yearly
    left join baseline_values on yearly.component_type = baseline_values.component_type

)

select * from final
