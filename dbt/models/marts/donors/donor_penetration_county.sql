-- Penetration of the eligible (18-55) population per county and year: donors living in the
-- county who donated that year, and who ever donated up to that year, over its eligible
-- residents ("only x% of eligible residents ever donated").
{{ config(engine='MergeTree()', order_by='(county_code, activity_year)') }}

with

counties as (

    select * from {{ ref('stg_reference__counties') }}

),

donors as (

    select
        donor_id,
        home_county_code,
        first_donation_year
    from {{ ref('dim_donors') }}

),

donor_years as (

    select
        donor_id,
        activity_year
    from {{ ref('int_donor_years') }}

),

years as (

    select distinct activity_year from donor_years

),

active as (

    select
        donors.home_county_code as county_code,
        donor_years.activity_year as activity_year,
        count() as donors_in_year
    from donor_years
    inner join donors on donor_years.donor_id = donors.donor_id
    group by county_code, activity_year

),

new_donors as (

    select
        home_county_code as county_code,
        first_donation_year as activity_year,
        count() as new_donors
    from donors
    group by county_code, activity_year

),

spine as (

    select
        counties.county_code as county_code,
        counties.county_name as county_name,
        counties.eligible_population as eligible_population,
        years.activity_year as activity_year
    from counties
    cross join years

),

final as (

    select
        spine.county_code as county_code,
        spine.county_name as county_name,
        spine.activity_year as activity_year,
        spine.eligible_population as eligible_population,
        active.donors_in_year as donors_in_year,
        new_donors.new_donors as new_donors,
        sum(new_donors.new_donors) over (
            partition by spine.county_code order by spine.activity_year
            rows between unbounded preceding and current row
        ) as donors_to_date,
        round(donors_in_year / spine.eligible_population * 100, 3) as annual_donor_rate_pct,
        round(donors_to_date / spine.eligible_population * 100, 3) as penetration_pct
    from spine
    left join active
        on spine.county_code = active.county_code
            and spine.activity_year = active.activity_year
    left join new_donors
        on spine.county_code = new_donors.county_code
            and spine.activity_year = new_donors.activity_year

)

select * from final
