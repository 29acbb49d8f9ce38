-- The donation service network per county and year: sites open that year by kind, sites per
-- 10,000 residents, collections per site and per 1,000 residents; counties ranked by access
-- (sites per 10,000 residents, then donations per 1,000).
{{ config(engine='MergeTree()', order_by='(service_year, county_code)') }}

with

counties as (

    select * from {{ ref('stg_reference__counties') }}

),

sites as (

    select * from {{ ref('stg_reference__sites') }}

),

donations as (

    select * from {{ ref('fct_donations') }}

),

years as (

    select distinct collected_year as service_year from donations

),

open_sites as (

    select
        years.service_year as service_year,
        sites.county_code as county_code,
        count() as sites,
        countIf(sites.site_kind = 'fixed_house') as fixed_houses,
        countIf(sites.site_kind = 'mobile_vehicle') as mobile_vehicles,
        countIf(sites.site_kind = 'group_drive') as group_drives
    from sites
    cross join years
    where sites.opened_on <= makeDate(years.service_year, 12, 31)
    group by service_year, county_code

),

collected as (

    select
        collected_year as service_year,
        county_code,
        count() as donations,
        {{ to_units_out('sum(units)') }} as units
    from donations
    group by service_year, county_code

),

final as (

    select
        years.service_year as service_year,
        counties.county_code as county_code,
        counties.county_name as county_name,
        counties.population as population,
        counties.eligible_population as eligible_population,
        open_sites.sites as sites,
        open_sites.fixed_houses as fixed_houses,
        open_sites.mobile_vehicles as mobile_vehicles,
        open_sites.group_drives as group_drives,
        round(sites / counties.population * 10000, 3) as sites_per_10k_residents,
        collected.donations as donations,
        collected.units as units,
        if(sites > 0, round(donations / sites, 1), null) as donations_per_site,
        round(donations / counties.population * 1000, 2) as donations_per_1000_residents,
        rank() over (
            partition by years.service_year
            order by sites_per_10k_residents desc, donations_per_1000_residents desc
        ) as access_rank
    from counties
    cross join years
    left join open_sites
        on counties.county_code = open_sites.county_code
            and years.service_year = open_sites.service_year
    left join collected
        on counties.county_code = collected.county_code
            and years.service_year = collected.service_year

)

select * from final
