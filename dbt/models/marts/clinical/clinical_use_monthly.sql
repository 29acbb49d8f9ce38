-- Clinical use per month x hospital x county x component type: units and components
-- transfused, recipients, units issued and returned.
{{ config(engine='MergeTree()', order_by='(use_month, county_code, hospital_id, component_type)') }}

with

movements as (

    select * from {{ ref('int_movements_daily') }}
    where movement in ('issued', 'returned', 'transfused')

),

recipients as (

    select
        toStartOfMonth(moved_on) as use_month,
        facility_id as hospital_id,
        component_type,
        uniqExactIf(recipient_key, sign > 0) as recipients
    from {{ ref('fct_unit_movements') }}
    where movement = 'transfused'
    group by use_month, hospital_id, component_type

),

hospitals as (

    select * from {{ ref('stg_reference__hospitals') }}

),

monthly as (

    select
        toStartOfMonth(moved_on) as use_month,
        facility_id as hospital_id,
        component_type,
        {{ to_units_out("sumIf(units, movement = 'transfused')") }} as transfused_units,
        sumIf(movements, movement = 'transfused') as transfused_components,
        {{ to_units_out("sumIf(units, movement = 'issued')") }} as issued_units,
        {{ to_units_out("sumIf(units, movement = 'returned')") }} as returned_units
    from movements
    group by use_month, hospital_id, component_type

),

final as (

    select
        monthly.use_month as use_month,
        toYear(monthly.use_month) as use_year,
        monthly.hospital_id as hospital_id,
        hospitals.hospital_name as hospital_name,
        hospitals.hospital_level as hospital_level,
        hospitals.county_code as county_code,
        monthly.component_type as component_type,
        monthly.transfused_units as transfused_units,
        monthly.transfused_components as transfused_components,
        recipients.recipients as recipients,
        monthly.issued_units as issued_units,
        monthly.returned_units as returned_units
    from monthly
    inner join hospitals on monthly.hospital_id = hospitals.hospital_id
    left join recipients
        on monthly.use_month = recipients.use_month
            and monthly.hospital_id = recipients.hospital_id
            and monthly.component_type = recipients.component_type

)

select * from final
