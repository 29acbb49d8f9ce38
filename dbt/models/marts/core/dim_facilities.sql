-- Every facility that handles units: the hospitals of the reference data and the blood
-- stations seen in the events (a station is any other facility a unit moved through).
{{ config(engine='MergeTree()', order_by='facility_id') }}

with

hospitals as (

    select * from {{ ref('stg_reference__hospitals') }}

),

seen as (

    select distinct facility_id from {{ ref('int_movements_daily') }}
    union distinct
    select distinct location_id as facility_id from {{ ref('int_movements_daily') }}

),

final as (

    select
        hospital_id as facility_id,
        hospital_name as facility_name,
        'hospital' as facility_kind,
        county_code,
        hospital_level
    from hospitals

    union all

    select
        facility_id,
        facility_id as facility_name,
        'blood_station' as facility_kind,
        '' as county_code,
        '' as hospital_level
    from seen
    where facility_id not in (select hospital_id from hospitals)

)

select * from final
