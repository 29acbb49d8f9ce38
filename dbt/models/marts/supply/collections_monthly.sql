-- Collections per month x county x site x site kind x donor group x donation kind (distinct
-- donors need the donation rows, so this is not a roll-up of collections_daily).
{{ config(engine='MergeTree()', order_by='(collected_month, county_code, site_id)') }}

with

donations as (

    select * from {{ ref('fct_donations') }}

),

final as (

    {{ collections_by(['collected_month', 'collected_year'], 'donations') }}

)

select * from final
