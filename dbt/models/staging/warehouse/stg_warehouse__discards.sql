-- Units discarded (报废), with the cause.
with

source as (

    select * from {{ source('warehouse', 'discards') }}

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
        cause,
        volume_ml,
        note,
        ingested_at
    from source

)

select * from renamed
