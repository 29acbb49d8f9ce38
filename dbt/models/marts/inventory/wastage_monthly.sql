-- Wastage (报废) per month x cause x component type x facility: units, components and volume
-- discarded, and the wastage rate = units discarded / units the facility handled that month
-- (produced or received there, plus whole donations it discarded before processing).
{{ config(engine='MergeTree()', order_by='(waste_month, facility_id, component_type, cause)') }}

with

movements as (

    select * from {{ ref('int_movements_daily') }}
    where movement in ('discarded', 'produced', 'received')

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
    where movement = 'discarded'
    group by waste_month, facility_id, component_type, cause

),

handled as (

    select
        toStartOfMonth(moved_on) as waste_month,
        location_id as facility_id,
        component_type,
        sum(units) as handled_units
    from movements
    where movement in ('produced', 'received') or (movement = 'discarded' and whole_donation)
    group by waste_month, facility_id, component_type

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
        discarded.discarded_volume_ml as discarded_volume_ml,
        {{ to_units_out('handled.handled_units') }} as handled_units,
        if(
            handled.handled_units > 0,
            round(toFloat64(discarded.discarded_units) / toFloat64(handled.handled_units), 4),
            null
        ) as wastage_rate
    from discarded
    left join handled
        on discarded.waste_month = handled.waste_month
        and discarded.facility_id = handled.facility_id
        and discarded.component_type = handled.component_type
    left join facilities on discarded.facility_id = facilities.facility_id

)

select * from final
