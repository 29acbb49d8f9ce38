-- Donations collected (whole blood or apheresis), one row per DIN.
with

source as (

    select * from {{ source('warehouse', 'donations') }}

),

renamed as (

    select
        event_id,
        occurred_at,
        {{ local_date('occurred_at') }} as occurred_on,
        recorded_at,
        facility_id,
        din,
        donor_id,
        donation_kind,
        volume_ml,
        site_id,
        site_kind,
        county_code,
        abo_rh,
        donor_group,
        donor_age,
        donor_sex,
        first_time,
        therapeutic_units,
        ingested_at
    from source

)

select * from renamed
