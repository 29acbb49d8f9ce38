-- Donor structure over time: donations and donors per month x donor group x first-time or
-- repeat x age band x sex, and each cell's share of the month's donations.
{{ config(
    engine='MergeTree()',
    order_by='(activity_month, donor_group, donor_type, age_band, donor_sex)'
) }}

with

donations as (

    select * from {{ ref('fct_donations') }}

),

cells as (

    select
        collected_month as activity_month,
        donor_group,
        donor_type,
        age_band,
        donor_sex,
        count() as donations,
        uniqExact(donor_id) as donors,
        {{ to_units_out('sum(units)') }} as units
    from donations
    group by activity_month, donor_group, donor_type, age_band, donor_sex

),

final as (

    select
        *,
        round(donations / sum(donations) over (partition by activity_month) * 100, 2)
            as share_of_month_donations_pct
    from cells

)

select * from final
