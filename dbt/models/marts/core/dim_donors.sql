-- One row per donor who donated: home county (registration, else the county of the first
-- donation), current group, lifetime donations, volume, units and honour count.
{{ config(engine='MergeTree()', order_by='(home_county_code, donor_id)') }}

with

donations as (

    select * from {{ ref('fct_donations') }}

),

registrations as (

    select
        donor_id,
        argMax(county_code, occurred_at) as registered_county_code,
        argMax(sex, occurred_at) as registered_sex,
        argMax(birth_date, occurred_at) as birth_date,
        min(occurred_at) as registered_at
    from {{ ref('stg_warehouse__donor_registrations') }}
    group by donor_id

),

donor_totals as (

    select
        donor_id,
        argMin(county_code, collected_at) as first_donation_county_code,
        argMax(donor_group, collected_at) as donor_group,
        argMax(donor_sex, collected_at) as donation_sex,
        min(collected_on) as first_donation_on,
        max(collected_on) as last_donation_on,
        count() as donations,
        countIf(donation_kind = 'whole_blood') as whole_blood_donations,
        countIf(donation_kind = 'apheresis_platelets') as platelet_donations,
        sum(volume_ml) as donated_ml,
        sumIf(volume_ml, donation_kind = 'whole_blood') as whole_blood_ml,
        sum(units) as units,
        sum(honour_count) as honour_count
    from donations
    group by donor_id

),

final as (

    select
        donor_totals.donor_id as donor_id,
        if(
            registrations.registered_county_code != '',
            registrations.registered_county_code,
            donor_totals.first_donation_county_code
        ) as home_county_code,
        donor_totals.donor_group as donor_group,
        if(
            registrations.registered_sex != '', registrations.registered_sex,
            donor_totals.donation_sex
        ) as sex,
        registrations.birth_date as birth_date,
        donor_totals.first_donation_on as first_donation_on,
        toYear(donor_totals.first_donation_on) as first_donation_year,
        donor_totals.last_donation_on as last_donation_on,
        donor_totals.donations as donations,
        donor_totals.whole_blood_donations as whole_blood_donations,
        donor_totals.platelet_donations as platelet_donations,
        donor_totals.donated_ml as donated_ml,
        donor_totals.whole_blood_ml as whole_blood_ml,
        donor_totals.units as units,
        donor_totals.honour_count as honour_count
    from donor_totals
    left join registrations on donor_totals.donor_id = registrations.donor_id

)

select * from final
