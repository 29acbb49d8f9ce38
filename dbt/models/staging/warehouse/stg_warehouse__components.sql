-- Blood components produced from a donation (DIN + product code).
with

source as (

    select * from {{ source('warehouse', 'components') }}

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
        component_type,
        volume_ml,
        parseDateTime64BestEffortOrNull(toString(source.expires_at), 3, 'UTC') as expires_at,
        abo_rh,
        ingested_at
    from source

)

select * from renamed
