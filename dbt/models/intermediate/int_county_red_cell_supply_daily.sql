-- Red-cell days of supply of each county's hospitals, per day: their stock of red cells (all
-- groups) over their mean daily issue in the trailing window (var mean_issue_window_days), and
-- whether that is below the warning line (the lower bound of the `normal` level).
{%- set window_days = var('mean_issue_window_days') | int %}

with

stock as (

    select * from {{ ref('int_stock_daily') }}
    where component_type = 'red_cells'

),

hospitals as (

    select hospital_id, county_code from {{ ref('stg_reference__hospitals') }}

),

warning_line as (

    select min_days as warning_days
    from {{ ref('inventory_warning_levels') }}
    where component_type = 'red_cells' and level = 'normal'

),

county_daily as (

    select
        stock.stock_date as stock_date,
        hospitals.county_code as county_code,
        sum(stock.available_units) as available_units,
        sum(stock.issued_units) as issued_units
    from stock
    inner join hospitals on stock.location_id = hospitals.hospital_id
    group by stock_date, county_code

),

windowed as (

    select
        stock_date,
        county_code,
        available_units,
        toFloat64(sum(issued_units) over trailing) / count() over trailing as mean_daily_issue
    from county_daily
    window trailing as (
        partition by county_code
        order by stock_date
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
