-- Donors eligible for the 无偿献血奉献奖 (README §4): bronze >= 20, silver >= 30, gold >= 40
-- counted donations (each 200 ml of whole blood counts 1, each platelet therapeutic unit
-- counts 1), lifetime honour once the count holds 3 golds (3 x 40). Thresholds are vars from
-- the platform's HonourRules. One row per eligible donor with the highest honour reached.
{{ config(engine='MergeTree()', order_by='(home_county_code, donor_id)') }}

with

donors as (

    select * from {{ ref('dim_donors') }}

),

graded as (

    select
        donor_id,
        home_county_code,
        donations,
        honour_count,
        last_donation_on,
        toUInt32(floor(honour_count / {{ var('honour_gold') }})) as gold_awards,
        multiIf(
            gold_awards >= {{ var('honour_lifetime_after_golds') }}, 'lifetime',
            honour_count >= {{ var('honour_gold') }}, 'gold',
            honour_count >= {{ var('honour_silver') }}, 'silver',
            honour_count >= {{ var('honour_bronze') }}, 'bronze',
            'none'
        ) as honour_level
    from donors

)

select * from graded
where honour_level != 'none'
