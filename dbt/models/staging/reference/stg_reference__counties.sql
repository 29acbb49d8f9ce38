-- The city's counties with their total and eligible (18-55) population. When the events cover
-- a sample of the residents (var population_sample, e.g. the demo's 1-in-4 Ankang), the
-- populations are scaled by it so that every rate per 1,000 residents is the full city's;
-- census_population keeps the seed's figure.
with

source as (

    select * from {{ ref('counties') }}

),

renamed as (

    select
        toString(county_code) as county_code,
        toString(county_name) as county_name,
        toUInt32(round(population * {{ var('population_sample') }})) as population,
        toUInt32(
            round(eligible_population * {{ var('population_sample') }})
        ) as eligible_population,
        toUInt32(population) as census_population,
        toString(population_source) as population_source,
        toString(eligible_source) as eligible_source
    from source

)

select * from renamed
