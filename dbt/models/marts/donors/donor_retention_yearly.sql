-- Repeat-donor retention per year x donor group: donors active in the year, how many gave
-- more than once, how many were new, and how many (of all, and of the new) donated again the
-- next year. Rates are null while the next year is not in the data yet.
{{ config(engine='MergeTree()', order_by='(activity_year, donor_group)') }}

with

donor_years as (

    select * from {{ ref('int_donor_years') }}

),

last_year as (

    select max(activity_year) as last_year from donor_years

),

final as (

    select
        activity_year,
        donor_group,
        count() as active_donors,
        countIf(donations >= 2) as multi_donation_donors,
        countIf(first_year_of_donor) as new_donors,
        countIf(not first_year_of_donor) as returning_donors,
        countIf(donated_next_year) as retained_next_year,
        countIf(first_year_of_donor and donated_next_year) as new_retained_next_year,
        activity_year < (select last_year from last_year) as next_year_observed,
        if(next_year_observed, round(retained_next_year / active_donors * 100, 2), null)
            as retention_rate_pct,
        if(
            next_year_observed and new_donors > 0,
            round(new_retained_next_year / new_donors * 100, 2),
            null
        ) as new_donor_retention_rate_pct
    from donor_years
    group by activity_year, donor_group

)

select * from final
