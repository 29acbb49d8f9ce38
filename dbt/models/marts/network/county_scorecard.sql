-- County scorecard (考核) per year, on what a county controls (definitions in
-- _network__models.yml):
--   donations_per_1000      donations at the county's sites / residents x 1,000
--   growth_pct              donations at its sites against the baseline year
--                           (var baseline_year, else the year less var baseline_years_back)
--   repeat_donor_share_pct  donors at its sites who had donated before / donors there
--   penetration_pct         residents of the county who ever donated / eligible (18-55) residents
--   wastage_rate_pct        units discarded / units produced, of what its sites collected
--   days_below_line_pct     days its hospitals' red cells were below each hospital's own line
--                           (hospital_supply_daily) / days observed
-- One rank per measure (1 = best; ties share a rank); a measure a county lacks has a null rank
-- and a note saying why, never a default that would rank first. The overall rank is by the
-- mean of the ranks on the measures that year's counties have (overall_basis) and that apply
-- to the county (supply does not apply without a hospital); a county lacking one of them has
-- no overall rank. overall_note says why, or that a place is shared.
{{ config(engine='MergeTree()', order_by='(score_year, county_code)') }}
{%- set back = var('baseline_years_back') | int %}

with

counties as (

    select * from {{ ref('stg_reference__counties') }}

),

donations as (

    select * from {{ ref('fct_donations') }}

),

penetration as (

    select
        county_code,
        activity_year,
        donors_to_date,
        penetration_pct
    from {{ ref('donor_penetration_county') }}

),

wastage_parts as (

    select * from {{ ref('int_wastage_monthly') }}

),

hospital_days as (

    select * from {{ ref('hospital_supply_daily') }}

),

hospitals as (

    select
        county_code,
        count() as hospitals
    from {{ ref('stg_reference__hospitals') }}
    group by county_code

),

years as (

    select distinct collected_year as score_year from donations

),

first_year as (

    select min(collected_year) as first_year from donations

),

collected as (

    select
        collected_year as score_year,
        county_code,
        count() as donations,
        uniqExact(donor_id) as donors,
        uniqExactIf(donor_id, not first_time) as repeat_donors
    from donations
    group by score_year, county_code

),

wastage as (

    select
        toYear(waste_month) as score_year,
        county_code,
        sum(produced_units) as produced_units,
        sum(discarded_units) as discarded_units
    from wastage_parts
    group by score_year, county_code

),

supply as (

    select
        toYear(stock_date) as score_year,
        county_code,
        countIf(days_of_supply is not null) as hospital_days_observed,
        countIf(below_line) as hospital_days_below_line
    from hospital_days
    group by score_year, county_code

),

spine as (

    select
        years.score_year as score_year,
        counties.county_code as county_code,
        counties.county_name as county_name,
        counties.population as population,
        counties.eligible_population as eligible_population,
        {%- if var('baseline_year') is none %}
            toUInt16(years.score_year - {{ back }}) as baseline_year
        {%- else %}
            toUInt16({{ var('baseline_year') }}) as baseline_year
        {%- endif %}
    from counties
    cross join years

),

-- outer joins below fill a missing row with defaults (0, ''), not nulls: each measure tests
-- the joined key before it uses a value
measured as (

    select
        spine.score_year as score_year,
        spine.county_code as county_code,
        spine.county_name as county_name,
        spine.population as population,
        spine.eligible_population as eligible_population,
        spine.baseline_year as baseline_year,

        if(now_.county_code != '', now_.donations, 0) as donations,
        if(
            spine.population > 0, round(donations / spine.population * 1000, 3), null
        ) as donations_per_1000,
        if(spine.population > 0, '', 'no resident population in seed counties')
            as donations_note,

        if(base.county_code != '', base.donations, 0) as baseline_donations,
        if(
            spine.baseline_year < spine.score_year and baseline_donations > 0,
            round((donations / baseline_donations - 1) * 100, 2),
            null
        ) as growth_pct,
        multiIf(
            spine.baseline_year >= spine.score_year, 'baseline year is not before this year',
            spine.baseline_year < (select first_year from first_year),
            concat('no data for the baseline year ', toString(spine.baseline_year)),
            baseline_donations = 0, 'no donations in the baseline year',
            ''
        ) as growth_note,

        if(now_.county_code != '', now_.donors, 0) as donors,
        if(now_.county_code != '', now_.repeat_donors, 0) as repeat_donors,
        if(donors > 0, round(repeat_donors / donors * 100, 2), null) as repeat_donor_share_pct,
        if(donors > 0, '', 'no donors at the county''s sites') as repeat_note,

        if(pen.county_code != '', pen.donors_to_date, 0) as donors_to_date,
        if(
            spine.eligible_population > 0,
            round(donors_to_date / spine.eligible_population * 100, 3),
            null
        ) as penetration_pct,
        if(spine.eligible_population > 0, '', 'no eligible population in seed counties')
            as penetration_note,

        {{ to_units_out("if(waste.county_code != '', waste.produced_units, 0)") }}
            as produced_units,
        {{ to_units_out("if(waste.county_code != '', waste.discarded_units, 0)") }}
            as discarded_units,
        if(produced_units > 0, round(discarded_units / produced_units * 100, 3), null)
            as wastage_rate_pct,
        if(produced_units > 0, '', 'nothing collected in the county this year')
            as wastage_note,

        if(hosp.county_code != '', hosp.hospitals, 0) as hospitals,
        if(sup.county_code != '', sup.hospital_days_observed, 0) as hospital_days_observed,
        if(sup.county_code != '', sup.hospital_days_below_line, 0) as hospital_days_below_line,
        if(
            hospital_days_observed > 0,
            round(hospital_days_below_line / hospital_days_observed * 100, 2),
            null
        ) as days_below_line_pct,
        multiIf(
            hospitals = 0, 'no hospital in the county',
            hospital_days_observed = 0, 'no hospital issued red cells this year',
            ''
        ) as supply_note
    from spine
    left join collected as now_
        on spine.county_code = now_.county_code and spine.score_year = now_.score_year
    left join collected as base
        on spine.county_code = base.county_code and spine.baseline_year = base.score_year
    left join penetration as pen
        on spine.county_code = pen.county_code and spine.score_year = pen.activity_year
    left join wastage as waste
        on spine.county_code = waste.county_code and spine.score_year = waste.score_year
    left join hospitals as hosp on spine.county_code = hosp.county_code
    left join supply as sup
        on spine.county_code = sup.county_code and spine.score_year = sup.score_year

),

{%- set measures = [
    ('donations', 'donations_per_1000', 'desc'),
    ('growth', 'growth_pct', 'desc'),
    ('repeat_share', 'repeat_donor_share_pct', 'desc'),
    ('penetration', 'penetration_pct', 'desc'),
    ('wastage', 'wastage_rate_pct', 'asc'),
    ('supply', 'days_below_line_pct', 'asc'),
] %}

ranked as (

    select
        *,
    {%- for name, column, direction in measures %}
        -- counties lacking the measure are ranked apart, then their rank is dropped
        if(
            {{ column }} is null,
            null,
            rank() over (
                partition by score_year, {{ column }} is null
                order by {{ column }} {{ direction }}
                )
        ) as rank_{{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
    from measured

),

basis as (

    -- the measures at least one county has this year
    select
        score_year,
        arrayFilter(
            name -> name != '',
            [
                {%- for name, column, direction in measures %}
                    if(
                        countIf({{ column }} is not null) > 0, '{{ name }}', ''
                    ){{ ',' if not loop.last }}
                {%- endfor %}
            ]
        ) as overall_basis
    from measured
    group by score_year

),

scored as (

    select
        ranked.*,
        basis.overall_basis as overall_basis,
        -- a county without a hospital has no supply of its own to judge: that measure does
        -- not apply to it (said in overall_note); any other gap leaves it unranked overall
        arrayFilter(
            name -> has(basis.overall_basis, name)
            and not (name = 'supply' and ranked.hospitals = 0),
            [
                {%- for name, column, direction in measures %}
                    '{{ name }}'{{ ',' if not loop.last }}
                {%- endfor %}
            ]
        ) as applicable_measures,
        arrayFilter(
            name -> name != '' and has(applicable_measures, name),
            [
                {%- for name, column, direction in measures %}
                    if(ranked.rank_{{ name }} is null, '{{ name }}', ''){{ ',' if not loop.last }}
                {%- endfor %}
            ]
        ) as missing_measures,
        if(
            empty(missing_measures) and notEmpty(applicable_measures),
            round(
                arraySum([
                    {%- for name, column, direction in measures %}
                        if(
                            has(applicable_measures, '{{ name }}'),
                            toFloat64(ifNull(ranked.rank_{{ name }}, 0)), 0
                        ){{ ',' if not loop.last }}
                    {%- endfor %}
                ]) / length(applicable_measures),
                3
            ),
            null
        ) as rank_score
    from ranked
    inner join basis on ranked.score_year = basis.score_year

),

final as (

    select
        * except (missing_measures, applicable_measures),
        length(applicable_measures) as measures_ranked,
        if(
            rank_score is null,
            null,
            rank() over (partition by score_year, rank_score is null order by rank_score asc)
        ) as overall_rank,
        rank_score is not null
        and count() over (partition by score_year, rank_score) > 1 as overall_tied,
        multiIf(
            empty(overall_basis), 'no measure available this year',
            notEmpty(missing_measures),
            concat('not ranked overall, missing: ', arrayStringConcat(missing_measures, ', ')),
            overall_tied and length(applicable_measures) < length(overall_basis),
            concat(
                'tied with another county; ranked on ',
                toString(length(applicable_measures)), ' of ',
                toString(length(overall_basis)), ' measures (no hospital in the county)'
            ),
            overall_tied, 'tied with another county',
            length(applicable_measures) < length(overall_basis),
            concat(
                'ranked on ', toString(length(applicable_measures)), ' of ',
                toString(length(overall_basis)), ' measures (no hospital in the county)'
            ),
            ''
        ) as overall_note
    from scored

)

select * from final
