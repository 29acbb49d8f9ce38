-- Collections per day x county x site x site kind x donor group x donation kind (the body
-- is the collections_by macro, shared with collections_monthly and collections_yearly).
{{ config(engine='MergeTree()', order_by='(collected_on, county_code, site_id)') }}

with

donations as (

    select * from {{ ref('fct_donations') }}

),

final as (

    {{ collections_by(['collected_on', 'collected_month', 'collected_year'], 'donations') }}

)

select * from final
