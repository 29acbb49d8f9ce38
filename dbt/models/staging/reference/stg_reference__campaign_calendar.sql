-- Publicity campaigns: a yearly date (MM-DD) or a single date (YYYY-MM-DD), each with the days
-- either side of it that count as its window.
with

source as (

    select * from {{ ref('campaign_calendar') }}

),

renamed as (

    select
        toString(campaign_date) as campaign_date_text,
        toString(campaign_name) as campaign_name,
        toUInt16(window_days) as window_days,
        length(campaign_date_text) = 5 as recurs_yearly,
        toUInt8(splitByChar('-', campaign_date_text)[-2]) as campaign_month,
        toUInt8(splitByChar('-', campaign_date_text)[-1]) as campaign_day,
        if(recurs_yearly, null, toDateOrNull(campaign_date_text)) as campaign_on
    from source

)

select * from renamed
