-- Wastage (报废) amounts per month x facility x component type x cause: components, units and
-- volume discarded there, for investigating a station or a hospital. The rates are in
-- wastage_monthly (a rate needs the units produced, which is a city-wide figure).
{{ config(engine='MergeTree()', order_by='(waste_month, facility_id, component_type, cause)') }}

with

movements as (

    select * from {{ ref('int_movements_daily') }}
    where movement = 'discarded'

),

facilities as (

    select * from {{ ref('dim_facilities') }}

),

discarded as (

    select
        toStartOfMonth(moved_on) as waste_month,
        facility_id,
        component_type,
        cause,
        sum(movements) as discarded_components,
        sum(units) as discarded_units,
        sum(volume_ml) as discarded_volume_ml
    from movements
    group by waste_month, facility_id, component_type, cause
    having discarded_components != 0

),

final as (

    select
        discarded.waste_month as waste_month,
        discarded.facility_id as facility_id,
        facilities.facility_kind as facility_kind,
        facilities.county_code as county_code,
        discarded.component_type as component_type,
        discarded.cause as cause,
        discarded.discarded_components as discarded_components,
        {{ to_units_out('discarded.discarded_units') }} as discarded_units,
        discarded.discarded_volume_ml as discarded_volume_ml
    from discarded
    left join facilities on discarded.facility_id = facilities.facility_id

)

select * from final
