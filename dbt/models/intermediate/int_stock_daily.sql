-- End-of-day stock per facility x ABO/RhD group x component type, every day from the first to
-- the last day with data, derived from the movement ledger: each movement into a stock state
-- adds the unit's units on its day and removes them on the day the state ends (next movement
-- or expiry). Also the units issued that day (the demand side of days of supply).
{{
    config(
        materialized='table',
        engine='MergeTree()',
        order_by='(location_id, component_type, abo_rh, stock_date)',
    )
}}

with

movements as (

    select * from {{ ref('fct_unit_movements') }}

),

bounds as (

    select min(moved_on) as first_day, max(moved_on) as last_day
    from movements

),

stock_deltas as (

    select moved_on as stock_date, location_id, abo_rh, component_type, state, units as delta
    from movements
    where state in {{ stock_states() }}

    union all

    select valid_to_on as stock_date, location_id, abo_rh, component_type, state, -units as delta
    from movements
    where state in {{ stock_states() }} and valid_to_on is not null

),

daily_deltas as (

    select
        assumeNotNull(stock_date) as stock_date,
        location_id,
        abo_rh,
        component_type,
        sumIf(delta, state = 'available') as available_delta,
        sumIf(delta, state = 'quarantine') as quarantine_delta,
        sumIf(delta, state = 'in_transit') as in_transit_delta
    from stock_deltas
    where stock_date <= (select last_day from bounds)
    group by stock_date, location_id, abo_rh, component_type

),

daily_issues as (

    select
        moved_on as stock_date,
        facility_id as location_id,
        abo_rh,
        component_type,
        sum(units) as issued_units
    from movements
    where movement = 'issued'
    group by stock_date, location_id, abo_rh, component_type

),

series as (

    select distinct location_id, abo_rh, component_type from daily_deltas
    union distinct
    select distinct location_id, abo_rh, component_type from daily_issues

),

days as (

    select arrayJoin(
        arrayMap(i -> addDays(first_day, i), range(toUInt32(last_day - first_day + 1)))
    ) as stock_date
    from bounds

),

spine as (

    select days.stock_date as stock_date, series.location_id as location_id,
        series.abo_rh as abo_rh, series.component_type as component_type
    from days
    cross join series

),

filled as (

    select
        spine.stock_date as stock_date,
        spine.location_id as location_id,
        spine.abo_rh as abo_rh,
        spine.component_type as component_type,
        daily_deltas.available_delta as available_delta,
        daily_deltas.quarantine_delta as quarantine_delta,
        daily_deltas.in_transit_delta as in_transit_delta,
        daily_issues.issued_units as issued_units
    from spine
    left join daily_deltas
        on spine.stock_date = daily_deltas.stock_date
        and spine.location_id = daily_deltas.location_id
        and spine.abo_rh = daily_deltas.abo_rh
        and spine.component_type = daily_deltas.component_type
    left join daily_issues
        on spine.stock_date = daily_issues.stock_date
        and spine.location_id = daily_issues.location_id
        and spine.abo_rh = daily_issues.abo_rh
        and spine.component_type = daily_issues.component_type

),

running as (

    select
        stock_date,
        location_id,
        abo_rh,
        component_type,
        sum(available_delta) over to_date as available_units,
        sum(quarantine_delta) over to_date as quarantine_units,
        sum(in_transit_delta) over to_date as in_transit_units,
        issued_units
    from filled
    window to_date as (
        partition by location_id, abo_rh, component_type
        order by stock_date
        rows between unbounded preceding and current row
    )

)

select * from running
