-- What every wastage rate is made of, per month x county of collection x component type:
-- units PRODUCED (cause '') and units DISCARDED per cause, sign-aware sums of the ledger.
--
-- Units produced of a component type in a month (the one definition every rate uses):
--   whole_blood: the units of whole-blood donations collected that month (a whole-blood
--     donation is a whole-blood unit until it is processed; discards before processing, such
--     as a test-reactive donation, are whole_blood discards);
--   any other type: the units of components of that type made that month, plus apheresis
--     donations of that type discarded before their component was recorded (the donation is
--     the product: counted once, when its component is recorded or when it is discarded).
-- Units discarded: the units of the type discarded that month, by cause, wherever discarded.
-- Units as everywhere (macros/units.sql): a component counts its parent donation's units.
{{ config(
    materialized=bt_materialized('table'),
    engine='MergeTree()',
    order_by='(waste_month, county_code, component_type, cause)'
) }}

with

movements as (

    select
        moved_on,
        collection_county_code,
        component_type,
        movement,
        product_code,
        cause,
        sign,
        units,
        volume_ml
    from {{ ref('fct_unit_movements') }}
    where movement in ('collected', 'produced', 'discarded')

),

classified as (

    select
        toStartOfMonth(moved_on) as waste_month,
        collection_county_code as county_code,
        component_type,
        multiIf(
            component_type = 'whole_blood', movement = 'collected',
            movement = 'produced' or (movement = 'discarded' and product_code = '')
        ) as is_production,
        movement = 'discarded' as is_discard,
        cause,
        sign,
        units,
        volume_ml
    from movements

),

produced as (

    select
        waste_month,
        county_code,
        component_type,
        '' as cause,
        sum(sign * units) as produced_units,
        toDecimal64(0, 3) as discarded_units,
        toInt64(0) as discarded_components,
        toInt64(0) as discarded_volume_ml
    from classified
    where is_production
    group by waste_month, county_code, component_type

),

discarded as (

    select
        waste_month,
        county_code,
        component_type,
        cause,
        toDecimal64(0, 3) as produced_units,
        sum(sign * units) as discarded_units,
        toInt64(sum(sign)) as discarded_components,
        toInt64(sum(sign * volume_ml)) as discarded_volume_ml
    from classified
    where is_discard
    group by waste_month, county_code, component_type, cause

),

final as (

    select * from produced
    where produced_units != 0
    union all
    select * from discarded
    where discarded_components != 0

)

select * from final
