-- Recalls opened for a set of DINs.
with

source as (

    select * from {{ source('warehouse', 'recalls') }}

),

renamed as (

    select
        event_id,
        occurred_at,
        {{ local_date('occurred_at') }} as occurred_on,
        recorded_at,
        facility_id,
        recall_id,
        dins,
        reason,
        lookback_id,
        addressed_to,
        ingested_at
    from source

)

select * from renamed
