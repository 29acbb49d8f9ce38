-- Days spent below each warning level, per month x ABO/RhD group x component type x level:
-- days whose days of supply were under the level's lower bound, and days at the level.
{{ config(engine='MergeTree()', order_by='(component_type, abo_rh, stock_month, level)') }}

with

inventory as (

    select * from {{ ref('inventory_daily') }}

),

levels as (

    select * from {{ ref('inventory_warning_levels') }}

),

final as (

    select
        toStartOfMonth(inventory.stock_date) as stock_month,
        inventory.abo_rh as abo_rh,
        inventory.component_type as component_type,
        levels.level as level,
        levels.level_rank as level_rank,
        levels.min_days as level_min_days,
        countIf(ifNull(inventory.days_of_supply, inf) < levels.min_days) as days_below_level,
        countIf(inventory.warning_level = levels.level) as days_at_level,
        count() as days_observed
    from inventory
    inner join levels on inventory.component_type = levels.component_type
    group by stock_month, abo_rh, component_type, level, level_rank, level_min_days

)

select * from final
