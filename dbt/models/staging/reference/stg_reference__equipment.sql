-- Storage and transport equipment with its telemetry interval.
with

source as (

    select * from {{ ref('equipment') }}

),

renamed as (

    select
        toString(equipment_id) as equipment_id,
        toString(facility_id) as facility_id,
        toString(equipment_kind) as equipment_kind,
        toUInt32(interval_seconds) as interval_seconds
    from source

)

select * from renamed
