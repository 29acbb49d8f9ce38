-- Events refused at the edge or in the stream, with the reason (raw bytes left out).
with

source as (

    select * from {{ source('warehouse', 'rejected_events') }}

),

renamed as (

    select
        rejected_at,
        {{ local_date('rejected_at') }} as rejected_on,
        source.source as rejected_by,
        reason,
        detail,
        event_id,
        event_type,
        facility_id,
        ingested_at
    from source

)

select * from renamed
