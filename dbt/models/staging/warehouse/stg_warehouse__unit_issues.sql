-- Units issued by a hospital blood bank to a ward or recipient.
with

source as (

    select * from {{ source('warehouse', 'unit_issues') }}

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
        ward,
        ingested_at
    from source

)

select * from renamed
