-- Screening results, one row per marker per test round of a donation.
with

source as (

    select * from {{ source('warehouse', 'test_results') }}

),

renamed as (

    select
        event_id,
        occurred_at,
        {{ local_date('occurred_at') }} as occurred_on,
        recorded_at,
        facility_id,
        din,
        round,
        marker,
        method,
        reactive,
        value,
        ingested_at
    from source

)

select * from renamed
