-- Donations released after every required screening test was negative.
with

source as (

    select * from {{ source('warehouse', 'unit_releases') }}

),

renamed as (

    select
        event_id,
        occurred_at,
        {{ local_date('occurred_at') }} as occurred_on,
        recorded_at,
        facility_id,
        din,
        ingested_at
    from source

)

select * from renamed
