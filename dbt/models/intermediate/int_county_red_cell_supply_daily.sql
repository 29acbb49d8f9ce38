-- Red-cell days of supply of each county's hospitals, per day: their stock of red cells (all
-- groups) over their mean daily issue in the trailing window (var mean_issue_window_days), and
-- whether that is below the warning line (the lower bound of the `normal` level).
{%- set window_days = var('mean_issue_window_days') | int %}

with

deltas as (

    select * from {{ ref('int_stock_deltas') }}
    where component_type = 'red_cells'

),

hospitals as (

    select hospital_id, county_code from {{ ref('stg_reference__hospitals') }}

),

bounds as (

    select first_day, last_day from (
        select min(stock_date) as first_day, max(stock_date) as last_day
        from {{ ref('int_stock_daily') }}
    )

),

warning_line as (

    select min_days as warning_days
    from {{ ref('inventory_warning_levels') }}
    where component_type = 'red_cells' and level = 'normal'

),

county_changes as (

    select
        deltas.stock_date as stock_date,
        hospitals.county_code as county_code,
        sumIf(deltas.delta_units, deltas.state = 'available') as available_delta,
        sum(deltas.issued_units) as issued_units
    from deltas
    inner join hospitals on deltas.location_id = hospitals.hospital_id
    where deltas.stock_date <= (select last_day from bounds)
    group by stock_date, county_code

),

days as (

    select arrayJoin(
        arrayMap(i -> addDays(first_day, i), range(toUInt32(last_day - first_day + 1)))
    ) as stock_date
    from bounds

),

counties as (

    select distinct county_code from hospitals

),

filled as (

    select
        days.stock_date as stock_date,
        counties.county_code as county_code,
        county_changes.available_delta as available_delta,
        county_changes.issued_units as issued_units
    from days
    cross join counties
    left join county_changes
        on days.stock_date = county_changes.stock_date
        and counties.county_code = county_changes.county_code

),

windowed as (

    select
        stock_date,
        county_code,
        sum(available_delta) over to_date as available_units,
        toFloat64(sum(issued_units) over trailing) / count() over trailing as mean_daily_issue
    from filled
    window
        to_date as (
            partition by county_code order by stock_date
            rows between unbounded preceding and current row
        ),
        trailing as (
            partition by county_code order by stock_date
            rows between {{ window_days - 1 }} preceding and current row
        )

),

final as (

    select
        stock_date,
        county_code,
        available_units,
        mean_daily_issue,
        if(mean_daily_issue > 0, toFloat64(available_units) / mean_daily_issue, null)
            as days_of_supply,
        ifNull(days_of_supply < (select warning_days from warning_line), false) as below_warning
    from windowed

)

select * from final
