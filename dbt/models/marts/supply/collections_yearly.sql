-- Collections per year x county x site x site kind x donor group x donation kind (distinct
-- donors need the donation rows, so this is not a roll-up of collections_daily).
{{ config(engine='MergeTree()', order_by='(collected_year, county_code, site_id)') }}

with

donations as (

    select * from {{ ref('fct_donations') }}

),

final as (

    select
        collected_year,
        county_code,
        site_id,
        site_kind,
        donor_group,
        donation_kind,
        count() as donations,
        countIf(first_time) as first_time_donations,
        uniqExact(donor_id) as donors,
        sum(volume_ml) as volume_ml,
        {{ to_units_out('sum(units)') }} as units,
        sum(therapeutic_units) as therapeutic_units
    from donations
    group by
        collected_year, county_code, site_id, site_kind, donor_group, donation_kind

)

select * from final
