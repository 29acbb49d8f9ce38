-- The city's counties with their total and eligible (18-55) population.
with

source as (

    select * from {{ ref('counties') }}

),

renamed as (

    select
        toString(county_code) as county_code,
        toString(county_name) as county_name,
        toUInt32(population) as population,
        toUInt32(eligible_population) as eligible_population
    from source

)

select * from renamed
