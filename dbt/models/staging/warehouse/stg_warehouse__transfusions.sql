-- Units transfused to a recipient.
with

source as (

    select * from {{ source('warehouse', 'transfusions') }}

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
        recipient_id,
        recipient_abo_rh,
        ward,
        indication,
        ingested_at
    from source

)

select * from renamed
