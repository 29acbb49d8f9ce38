-- Units put into a storage location (fridge, freezer, agitator).
with

source as (

    select * from {{ source('warehouse', 'unit_storage') }}

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
        location_id,
        equipment_id,
        ingested_at
    from source

)

select * from renamed
