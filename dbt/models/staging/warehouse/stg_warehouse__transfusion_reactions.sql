-- Transfusion reactions reported, by SHOT-style category and severity.
with

source as (

    select * from {{ source('warehouse', 'transfusion_reactions') }}

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
        category,
        severity,
        ingested_at
    from source

)

select * from renamed
