-- Collections per site and year: donations, units, days the site collected, donations per
-- active day.
{{ config(engine='MergeTree()', order_by='(activity_year, site_id)') }}

with

donations as (

    select * from {{ ref('fct_donations') }}

),

sites as (

    select * from {{ ref('stg_reference__sites') }}

),

yearly as (

    select
        site_id,
        collected_year as activity_year,
        count() as donations,
        {{ to_units_out('sum(units)') }} as units,
        uniqExact(collected_on) as active_days
    from donations
    group by site_id, activity_year

),

final as (

    select
        yearly.site_id as site_id,
        yearly.activity_year as activity_year,
        sites.site_name as site_name,
        sites.site_kind as site_kind,
        sites.county_code as county_code,
        yearly.donations as donations,
        yearly.units as units,
        yearly.active_days as active_days,
        round(yearly.donations / yearly.active_days, 1) as donations_per_active_day
    from yearly
    left join sites on yearly.site_id = sites.site_id

)

select * from final
