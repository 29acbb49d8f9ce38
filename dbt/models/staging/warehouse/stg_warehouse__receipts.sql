-- Units received by a facility, with the temperature on arrival.
with

source as (

    select * from {{ source('warehouse', 'receipts') }}

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
        from_facility_id,
        temperature_c,
        ingested_at
    from source

)

select * from renamed
