-- Units shipped from a blood station or hospital to another facility.
with

source as (

    select * from {{ source('warehouse', 'shipments') }}

),

renamed as (

    select
        event_id,
        occurred_at,
        {{ local_date('occurred_at') }} as occurred_on,
        recorded_at,
        facility_id,
        din,
        product_code,
        shipment_id,
        to_facility_id,
        ingested_at
    from source

)

select * from renamed
