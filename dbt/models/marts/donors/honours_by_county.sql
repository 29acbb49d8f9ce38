-- Donors eligible for each honour per county (highest honour reached; every county and level,
-- zero included).
{{ config(engine='MergeTree()', order_by='(county_code, level_rank)') }}

with

honours as (

    select * from {{ ref('donor_honours') }}

),

counties as (

    select
        county_code,
        county_name
    from {{ ref('stg_reference__counties') }}

),

levels as (

    select
        arrayJoin([
            ('bronze', 1, '铜奖'), ('silver', 2, '银奖'), ('gold', 3, '金奖'),
            ('lifetime', 4, '终身荣誉奖')
        ]) as level_row,
        level_row.1 as honour_level,
        toUInt8(level_row.2) as level_rank,
        level_row.3 as honour_level_zh

),

counted as (

    select
        home_county_code as county_code,
        honour_level,
        count() as donors
    from honours
    group by county_code, honour_level

),

final as (

    select
        counties.county_code as county_code,
        counties.county_name as county_name,
        levels.honour_level as honour_level,
        levels.level_rank as level_rank,
        levels.honour_level_zh as honour_level_zh,
        counted.donors as donors
    from counties
    cross join levels
    left join counted
        on counties.county_code = counted.county_code
            and levels.honour_level = counted.honour_level

)

select * from final
