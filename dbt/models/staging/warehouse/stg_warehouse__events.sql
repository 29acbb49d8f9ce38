-- Every accepted event once (the envelope): its type, unit and people, without the payload
-- JSON (the typed tables carry the payload's fields).
with

source as (

    select * from {{ source('warehouse', 'events') }}

),

renamed as (

    select
        event_id,
        event_type,
        schema_version,
        occurred_at,
        {{ local_date('occurred_at') }} as occurred_on,
        recorded_at,
        facility_id,
        din,
        product_code,
        donor_id,
        recipient_id,
        equipment_id,
        ingested_at
    from source

)

select * from renamed
