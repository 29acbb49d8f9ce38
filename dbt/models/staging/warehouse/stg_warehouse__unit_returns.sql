-- Units returned to the blood bank, with minutes out of refrigeration.
with

source as (

    select * from {{ source('warehouse', 'unit_returns') }}

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
        minutes_out_of_refrigeration,
        ingested_at
    from source

)

select * from renamed
