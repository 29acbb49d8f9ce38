-- Temperature readings of storage and transport equipment.
with

source as (

    select * from {{ source('warehouse', 'temperature_readings') }}

),

renamed as (

    select
        event_id,
        occurred_at,
        {{ local_date('occurred_at') }} as occurred_on,
        recorded_at,
        facility_id,
        equipment_id,
        equipment_kind,
        temperature_c,
        agitating,
        interval_seconds,
        ingested_at
    from source

)

select * from renamed
