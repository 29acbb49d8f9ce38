-- Donation sites: fixed houses (献血屋), mobile vehicles (献血车) and group drives (团体献血).
with

source as (

    select * from {{ ref('sites') }}

),

renamed as (

    select
        toString(site_id) as site_id,
        toString(site_name) as site_name,
        toString(site_kind) as site_kind,
        toString(county_code) as county_code,
        toDate(opened_on) as opened_on
    from source

)

select * from renamed
