-- Collections in the window around each campaign date (seed campaign_calendar: the date
-- +/- window_days) against the same window one year earlier. A yearly campaign (MM-DD) has one
-- row per year with data; uplift is null when the earlier window is not fully in the data.
{{ config(engine='MergeTree()', order_by='(campaign_on, campaign_name)') }}

with

donations as (

    select * from {{ ref('fct_donations') }}

),

campaigns as (

    select * from {{ ref('stg_reference__campaign_calendar') }}

),

daily as (

    select
        collected_on,
        count() as donations,
        sum(units) as units
    from donations
    group by collected_on

),

data_range as (

    select
        min(collected_on) as first_day,
        max(collected_on) as last_day
    from daily

),

years as (

    select distinct toYear(collected_on) as campaign_year from daily

),

occurrences as (

    select
        campaigns.campaign_name as campaign_name,
        campaigns.campaign_date_text as campaign_date_text,
        campaigns.window_days as window_days,
        if(
            campaigns.recurs_yearly,
            makeDate(years.campaign_year, campaigns.campaign_month, campaigns.campaign_day),
            assumeNotNull(campaigns.campaign_on)
        ) as campaign_on
    from campaigns
    cross join years
    where campaigns.recurs_yearly or toYear(campaigns.campaign_on) = years.campaign_year

),

windows as (

    select
        campaign_name,
        campaign_date_text,
        campaign_on,
        window_days,
        subtractDays(campaign_on, window_days) as window_start,
        addDays(campaign_on, window_days) as window_end,
        subtractDays(subtractYears(campaign_on, 1), window_days) as previous_window_start,
        addDays(subtractYears(campaign_on, 1), window_days) as previous_window_end
    from occurrences

),

measured as (

    select
        windows.campaign_name as campaign_name,
        windows.campaign_date_text as campaign_date_text,
        windows.campaign_on as campaign_on,
        windows.window_days as window_days,
        windows.window_start as window_start,
        windows.window_end as window_end,
        windows.previous_window_start as previous_window_start,
        windows.previous_window_end as previous_window_end,
        sumIf(daily.donations, daily.collected_on between window_start and window_end)
            as donations,
        {{ to_units_out(
            'sumIf(daily.units, daily.collected_on between window_start and window_end)'
        ) }} as units,
        sumIf(
            daily.donations,
            daily.collected_on between previous_window_start and previous_window_end
        ) as previous_year_donations,
        {{ to_units_out(
            'sumIf(daily.units, daily.collected_on between previous_window_start '
            ~ 'and previous_window_end)'
        ) }} as previous_year_units
    from windows
    cross join daily
    group by
        campaign_name, campaign_date_text, campaign_on, window_days, window_start, window_end,
        previous_window_start, previous_window_end

),

final as (

    select
        *,
        window_start >= (select first_day from data_range)
        and window_end <= (select last_day from data_range) as window_observed,
        previous_window_start >= (select first_day from data_range)
        and previous_window_end <= (select last_day from data_range)
            as previous_window_observed,
        if(
            previous_window_observed and previous_year_donations > 0,
            round((donations / previous_year_donations - 1) * 100, 2),
            null
        ) as uplift_pct
    from measured
    where window_end >= (select first_day from data_range)
        and window_start <= (select last_day from data_range)

)

select * from final
