-- Donors deferred from donating, with the reason and until when.
with

source as (

    select * from {{ source('warehouse', 'donor_deferrals') }}

),

renamed as (

    select
        event_id,
        occurred_at,
        {{ local_date('occurred_at') }} as occurred_on,
        recorded_at,
        facility_id,
        donor_id,
        reason,
        deferred_until,
        ingested_at
    from source

)

select * from renamed
