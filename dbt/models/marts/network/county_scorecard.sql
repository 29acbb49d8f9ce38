-- County scorecard (考核) per year: donations per 1,000 residents, growth on the previous year,
-- repeat-donor share, wastage rate of what the county collected, days its hospitals' red-cell
-- stock spent below the warning line; a rank for each (1 = best) and an overall rank by the
-- sum of ranks.
{{ config(engine='MergeTree()', order_by='(score_year, county_code)') }}

with

counties as (

    select * from {{ ref('stg_reference__counties') }}

),

donations as (

    select * from {{ ref('fct_donations') }}

),

movements as (

    select collection_county_code, moved_on, product_code, movement, sign, units
    from {{ ref('fct_unit_movements') }}
    where movement in ('produced', 'discarded')

),

red_cell_supply as (

    select * from {{ ref('int_county_red_cell_supply_daily') }}

),

years as (

    select distinct collected_year as score_year from donations

),

collected as (

    select
        collected_year as score_year,
        county_code,
        count() as donations,
        countIf(donor_type = 'repeat') as repeat_donations
    from donations
    group by score_year, county_code

),

wastage as (

    -- by the county the units were collected in, in the year they were made or discarded
    select
        toYear(moved_on) as score_year,
        collection_county_code as county_code,
        sumIf(sign * units, movement = 'discarded') as discarded_units,
        sumIf(sign * units, movement = 'produced' or product_code = '') as made_units
    from movements
    group by score_year, county_code

),

shortage as (

    select toYear(stock_date) as score_year, county_code, countIf(below_warning) as days_below
    from red_cell_supply
    group by score_year, county_code

),

measured as (

    select
        years.score_year as score_year,
        counties.county_code as county_code,
        counties.county_name as county_name,
        counties.population as population,
        collected.donations as donations,
        round(collected.donations / counties.population * 1000, 2) as donations_per_1000,
        if(
            collected.donations > 0,
            round(collected.repeat_donations / collected.donations * 100, 2),
            0
        ) as repeat_donor_share_pct,
        if(
            wastage.made_units > 0,
            round(toFloat64(wastage.discarded_units) / toFloat64(wastage.made_units) * 100, 2),
            0
        ) as wastage_rate_pct,
        shortage.days_below as days_below_warning
    from counties
    cross join years
    left join collected
        on counties.county_code = collected.county_code
        and years.score_year = collected.score_year
    left join wastage
        on counties.county_code = wastage.county_code
        and years.score_year = wastage.score_year
    left join shortage
        on counties.county_code = shortage.county_code
        and years.score_year = shortage.score_year

),

with_growth as (

    select
        *,
        lagInFrame(toNullable(donations_per_1000)) over (
            partition by county_code order by score_year
            rows between 1 preceding and current row
        ) as previous_donations_per_1000,
        if(
            previous_donations_per_1000 > 0,
            round((donations_per_1000 / previous_donations_per_1000 - 1) * 100, 2),
            null
        ) as growth_pct
    from measured

),

ranked as (

    select
        *,
        rank() over (partition by score_year order by donations_per_1000 desc) as rank_donations,
        rank() over (partition by score_year order by ifNull(growth_pct, -inf) desc)
            as rank_growth,
        rank() over (partition by score_year order by repeat_donor_share_pct desc)
            as rank_repeat_share,
        rank() over (partition by score_year order by wastage_rate_pct asc) as rank_wastage,
        rank() over (partition by score_year order by days_below_warning asc)
            as rank_days_below_warning
    from with_growth

),

final as (

    select
        *,
        rank_donations + rank_growth + rank_repeat_share + rank_wastage
            + rank_days_below_warning as rank_score,
        rank() over (partition by score_year order by rank_score asc, rank_donations asc)
            as overall_rank
    from ranked

)

select * from final
