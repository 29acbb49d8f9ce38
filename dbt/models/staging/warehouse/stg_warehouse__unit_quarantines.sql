-- Units put in quarantine, with the reason.
with

source as (

    select * from {{ source('warehouse', 'unit_quarantines') }}

),

renamed as (

    select
        event_id,
        occurred_at,
        {{ local_date('occurred_at') }} as occurred_on,
        recorded_at,
        facility_id,
        din,
        reason,
        product_code,
        ingested_at
    from source

)

select * from renamed
