-- One row per donor per year they donated in: their group that year, donations, whether it
-- was their first year, and whether they donated again the next year.
{{ config(
    materialized=bt_materialized('table'),
    engine='MergeTree()',
    order_by='(activity_year, donor_id)'
) }}

with

donations as (

    select * from {{ ref('fct_donations') }}

),

donor_years as (

    select
        donor_id,
        collected_year as activity_year,
        argMax(donor_group, collected_at) as donor_group,
        argMax(county_code, collected_at) as collection_county_code,
        count() as donations,
        sum(units) as units
    from donations
    group by donor_id, activity_year

),

first_years as (

    select
        donor_id,
        min(activity_year) as first_year
    from donor_years
    group by donor_id

),

next_years as (

    select
        donor_id,
        activity_year - 1 as activity_year
    from donor_years

),

final as (

    select
        donor_years.donor_id as donor_id,
        donor_years.activity_year as activity_year,
        donor_years.donor_group as donor_group,
        donor_years.collection_county_code as collection_county_code,
        donor_years.donations as donations,
        donor_years.units as units,
        first_years.first_year = donor_years.activity_year as first_year_of_donor,
        next_years.donor_id != '' as donated_next_year
    from donor_years
    left join first_years on donor_years.donor_id = first_years.donor_id
    left join next_years
        on donor_years.donor_id = next_years.donor_id
            and donor_years.activity_year = next_years.activity_year

)

select * from final
