-- City-wide days of supply per day x ABO/RhD group x component type, with the warning level of
-- each day. Days of supply = available stock (blood station + hospital blood banks, end of
-- day) / mean daily issue over the trailing var mean_issue_window_days days; null when nothing
-- was issued in the window (no demand: the level is then `normal`).
{{ config(engine='MergeTree()', order_by='(component_type, abo_rh, stock_date)') }}

{%- set window_days = var('mean_issue_window_days') | int %}

with

stock as (

    select * from {{ ref('int_stock_daily') }}

),

levels as (

    select * from {{ ref('inventory_warning_levels') }}

),

city as (

    select
        stock_date,
        abo_rh,
        component_type,
        sum(available_units) as available_units,
        sum(quarantine_units) as quarantine_units,
        sum(in_transit_units) as in_transit_units,
        sum(issued_units) as issued_units
    from stock
    group by stock_date, abo_rh, component_type

),

windowed as (

    select
        *,
        toFloat64(sum(issued_units) over trailing) / count() over trailing as mean_daily_issue,
        count() over trailing = {{ window_days }} as window_complete
    from city
    window trailing as (
        partition by abo_rh, component_type
        order by stock_date
        rows between {{ window_days - 1 }} preceding and current row
    )

),

supply as (

    select
        *,
        if(mean_daily_issue > 0, toFloat64(available_units) / mean_daily_issue, null)
            as days_of_supply
    from windowed

),

leveled as (

    select
        supply.stock_date as stock_date,
        supply.abo_rh as abo_rh,
        supply.component_type as component_type,
        {{ to_units_out('supply.available_units') }} as available_units,
        {{ to_units_out('supply.quarantine_units') }} as quarantine_units,
        {{ to_units_out('supply.in_transit_units') }} as in_transit_units,
        {{ to_units_out('supply.issued_units') }} as issued_units,
        round(supply.mean_daily_issue, 3) as mean_daily_issue,
        {{ window_days }} as issue_window_days,
        supply.window_complete as window_complete,
        round(supply.days_of_supply, 2) as days_of_supply,
        levels.level as warning_level,
        levels.level_rank as level_rank,
        levels.label_zh as warning_level_zh
    from supply
    inner join levels on supply.component_type = levels.component_type
    where ifNull(supply.days_of_supply, inf) >= levels.min_days
        and (levels.max_days is null or ifNull(supply.days_of_supply, inf) < levels.max_days)

)

select * from leveled
