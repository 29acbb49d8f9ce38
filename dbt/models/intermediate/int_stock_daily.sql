-- City-wide end-of-day stock per ABO/RhD group x component type (available, quarantined, in
-- transit; blood station and hospital blood banks together) and units issued, every day from
-- the first to the last day with movements: the running sum of int_stock_deltas.
{{ config(
    materialized=bt_materialized('table'),
    engine='MergeTree()',
    order_by='(component_type, abo_rh, stock_date)'
) }}

with

deltas as (

    select * from {{ ref('int_stock_deltas') }}

),

bounds as (

    select
        min(moved_on) as first_day,
        max(moved_on) as last_day
    from {{ ref('fct_unit_movements') }}

),

daily as (

    select
        stock_date,
        abo_rh,
        component_type,
        sumIf(delta_units, state = 'available') as available_delta,
        sumIf(delta_units, state = 'quarantine') as quarantine_delta,
        sumIf(delta_units, state = 'in_transit') as in_transit_delta,
        sum(issued_units) as issued_units
    from deltas
    where stock_date <= (select last_day from bounds)
    group by stock_date, abo_rh, component_type

),

series as (

    select distinct
        abo_rh,
        component_type
    from daily

),

days as (

    select
        arrayJoin(
            arrayMap(i -> addDays(first_day, i), range(toUInt32(last_day - first_day + 1)))
        ) as stock_date
    from bounds

),

filled as (

    select
        days.stock_date as stock_date,
        series.abo_rh as abo_rh,
        series.component_type as component_type,
        daily.available_delta as available_delta,
        daily.quarantine_delta as quarantine_delta,
        daily.in_transit_delta as in_transit_delta,
        daily.issued_units as issued_units
    from days
    cross join series
    left join daily
        on days.stock_date = daily.stock_date
            and series.abo_rh = daily.abo_rh
            and series.component_type = daily.component_type

),

running as (

    select
        stock_date,
        abo_rh,
        component_type,
        sum(available_delta) over to_date as available_units,
        sum(quarantine_delta) over to_date as quarantine_units,
        sum(in_transit_delta) over to_date as in_transit_units,
        issued_units
    from filled
    window to_date as (
        partition by abo_rh, component_type
        order by stock_date
        rows between unbounded preceding and current row
    )

)

select * from running
