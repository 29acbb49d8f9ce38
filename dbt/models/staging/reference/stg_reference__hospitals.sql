-- Hospitals whose blood banks receive, issue and transfuse units.
with

source as (

    select * from {{ ref('hospitals') }}

),

renamed as (

    select
        toString(facility_id) as hospital_id,
        toString(hospital_name) as hospital_name,
        toString(county_code) as county_code,
        toString(level) as hospital_level
    from source

)

select * from renamed
