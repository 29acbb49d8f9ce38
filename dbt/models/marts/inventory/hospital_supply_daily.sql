-- Each hospital's red-cell supply per day, judged against that hospital's own line (seed
-- hospital_supply_levels; hospital `*` is the default): stock available there at the end of
-- the day (all groups), mean daily issue over the trailing window (var
-- mean_issue_window_days), days of supply = stock / mean issue, and whether that is below the
-- line. A day without issues in the window has no days of supply (null, not below).
{{ config(engine='MergeTree()', order_by='(hospital_id, stock_date)') }}
{%- set window_days = var('mean_issue_window_days') | int %}

with

deltas as (

    select * from {{ ref('int_stock_deltas') }}
    where component_type = 'red_cells'

),

hospitals as (

    select
        hospital_id,
        hospital_name,
        county_code
    from {{ ref('stg_reference__hospitals') }}

),

levels as (

    select
        toString(hospital_id) as hospital_id,
        toFloat64(warning_days) as warning_days
    from {{ ref('hospital_supply_levels') }}
    where component_type = 'red_cells'

),

bounds as (

    select
        first_day,
        last_day
    from (
        select
            min(stock_date) as first_day,
            max(stock_date) as last_day
        from {{ ref('int_stock_daily') }}
    )

),

changes as (

    select
        stock_date,
        location_id as hospital_id,
        sumIf(delta_units, state = 'available') as available_delta,
        sum(issued_units) as issued_units
    from deltas
    where location_id in (select hospital_id from hospitals)
        and stock_date <= (select last_day from bounds)
    group by stock_date, hospital_id

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
        hospitals.hospital_id as hospital_id,
        changes.available_delta as available_delta,
        changes.issued_units as issued_units
    from days
    cross join hospitals
    left join changes
        on days.stock_date = changes.stock_date
            and hospitals.hospital_id = changes.hospital_id

),

windowed as (

    select
        stock_date,
        hospital_id,
        sum(available_delta) over to_date as available_units,
        toFloat64(sum(issued_units) over trailing) / count() over trailing as mean_daily_issue
    from filled
    window
        to_date as (
            partition by hospital_id order by stock_date
            rows between unbounded preceding and current row
        ),
        trailing as (
            partition by hospital_id order by stock_date
            rows between {{ window_days - 1 }} preceding and current row
        )

),

final as (

    select
        windowed.stock_date as stock_date,
        windowed.hospital_id as hospital_id,
        hospitals.hospital_name as hospital_name,
        hospitals.county_code as county_code,
        {{ to_units_out('windowed.available_units') }} as available_units,
        round(windowed.mean_daily_issue, 4) as mean_daily_issue,
        if(
            windowed.mean_daily_issue > 0,
            round(toFloat64(windowed.available_units) / windowed.mean_daily_issue, 3),
            null
        ) as days_of_supply,
        -- (outer joins fill a missing row with defaults, not nulls: test the key)
        if(
            own.hospital_id != '',
            toNullable(own.warning_days),
            (
                select anyOrNull(warning_days) from levels
                where hospital_id = '*'
            )
        ) as warning_days,
        ifNull(days_of_supply < warning_days, false) as below_line
    from windowed
    inner join hospitals on windowed.hospital_id = hospitals.hospital_id
    left join levels as own on windowed.hospital_id = own.hospital_id

)

select * from final
