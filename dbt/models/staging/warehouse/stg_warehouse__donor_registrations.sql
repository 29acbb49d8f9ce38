-- Donors registered at a blood station: birth date, sex, ABO/RhD, donor group, home county.
with

source as (

    select * from {{ source('warehouse', 'donor_registrations') }}

),

renamed as (

    select
        event_id,
        occurred_at,
        {{ local_date('occurred_at') }} as occurred_on,
        recorded_at,
        facility_id,
        donor_id,
        birth_date,
        sex,
        abo_rh,
        donor_group,
        county_code,
        ingested_at
    from source

)

select * from renamed
