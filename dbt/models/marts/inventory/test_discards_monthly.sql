-- Screening failures as a share of donations, the way the published tables state them (e.g.
-- ALT 1.41 % of donations): per month of collection x marker,
--   reactive_share_pct = donations collected in the month with a reactive result for the
--                        marker (any round, any method) / donations collected in the month x 100.
-- Marker 'any' counts the donations discarded for a reactive test (cause test_reactive, the
-- whole donation or any of its components) instead, so it is the test-discard rate.
{{ config(engine='MergeTree()', order_by='(collected_month, marker)') }}

with

donations as (

    select
        din,
        collected_month
    from {{ ref('fct_donations') }}

),

reactive as (

    select distinct
        din,
        marker
    from {{ ref('stg_warehouse__test_results') }}
    where reactive

),

test_discards as (

    select distinct
        din,
        'any' as marker
    from {{ ref('stg_warehouse__discards') }}
    where cause = 'test_reactive'

),

monthly as (

    select
        collected_month,
        count() as donations
    from donations
    group by collected_month

),

markers as (

    select distinct marker from reactive
    union distinct
    select 'any' as marker

),

failed as (

    select
        donations.collected_month as collected_month,
        found.marker as marker,
        count() as reactive_donations
    from donations
    inner join (
        select * from reactive
        union all
        select * from test_discards
    ) as found
        on donations.din = found.din
    group by collected_month, marker

),

final as (

    select
        monthly.collected_month as collected_month,
        markers.marker as marker,
        monthly.donations as donations,
        ifNull(failed.reactive_donations, 0) as reactive_donations,
        round(reactive_donations / monthly.donations * 100, 4) as reactive_share_pct
    from monthly
    cross join markers
    left join failed
        on monthly.collected_month = failed.collected_month
            and markers.marker = failed.marker

)

select * from final
