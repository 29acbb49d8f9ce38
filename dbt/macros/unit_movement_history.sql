{#- The movement history of units, one row per movement with the state it leaves and the
    state it came from (see models/marts/core/fct_unit_movements.sql). A WITH list ending in the
    CTE `final`; follow it with a select. Inside an incremental run of that model it covers only
    the DINs staged by stage_touched_units, and the model's pre-hook stages it once as a table
    (stage_unit_movement_history): ClickHouse would otherwise inline it at every use. -#}
{% macro unit_movement_history() -%}
with

donations as (

    select
        din,
        event_id,
        occurred_at,
        facility_id,
        donation_kind,
        volume_ml,
        therapeutic_units,
        abo_rh,
        county_code,
        ingested_at
    from {{ ref('stg_warehouse__donations') }}
    {{ only_touched_units() }}

),

components as (

    select
        din,
        product_code,
        event_id,
        occurred_at,
        facility_id,
        component_type,
        abo_rh,
        volume_ml,
        expires_at,
        ingested_at
    from {{ ref('stg_warehouse__components') }}
    {{ only_touched_units() }}

),

-- what each unit is: type, group, units and expiry ---------------------------------------------
component_units as (

    select
        components.din as din,
        components.product_code as product_code,
        components.component_type as component_type,
        components.abo_rh as abo_rh,
        {{ component_units('donations.donation_kind', 'donations.volume_ml',
                           'components.volume_ml') }} as units,
        components.volume_ml as volume_ml,
        components.expires_at as expires_at,
        donations.county_code as collection_county_code
    from components
    left any join donations on components.din = donations.din

),

collected_units as (

    select
        din,
        '' as product_code,
        multiIf(
            donation_kind = 'apheresis_platelets', 'platelets',
            donation_kind = 'apheresis_plasma', 'plasma',
            'whole_blood'
        ) as component_type,
        abo_rh,
        {{ collection_units('donation_kind', 'volume_ml', 'therapeutic_units') }} as units,
        volume_ml,
        toNullable(
            occurred_at
            + toIntervalSecond(toInt64({{ var('whole_blood_shelf_life_days') }} * 86400))
        ) as expires_at,
        county_code as collection_county_code
    from donations

),

unit_catalog as (

    select * from component_units
    union all
    select * from collected_units

),

-- every movement, one row per unit it applies to ------------------------------------------------
components_by_din as (

    select
        din,
        groupArray(product_code) as product_codes,
        min(occurred_at) as made_at,
        argMin(facility_id, occurred_at) as made_by,
        argMin(event_id, occurred_at) as first_event_id,
        max(ingested_at) as last_ingested_at
    from components
    group by din

),

donation_movements as (

    select
        din,
        '' as product_code,
        'collected' as movement,
        toUInt8(0) as movement_rank,
        occurred_at as moved_at,
        facility_id,
        facility_id as location_id,
        '' as cause,
        '' as recipient_id,
        event_id,
        ingested_at
    from donations

    union all

    select
        din,
        '' as product_code,
        'processed' as movement,
        toUInt8(1) as movement_rank,
        made_at as moved_at,
        made_by as facility_id,
        made_by as location_id,
        '' as cause,
        '' as recipient_id,
        first_event_id as event_id,
        last_ingested_at as ingested_at
    from components_by_din

    union all

    select
        din,
        product_code,
        'produced' as movement,
        toUInt8(2) as movement_rank,
        occurred_at as moved_at,
        facility_id,
        facility_id as location_id,
        '' as cause,
        '' as recipient_id,
        event_id,
        ingested_at
    from components

),

unit_events as (

    select
        din, '' as product_code, 'released' as movement, toUInt8(3) as movement_rank,
        occurred_at as moved_at, facility_id, facility_id as location_id,
        '' as cause, '' as recipient_id, event_id, ingested_at
    from {{ ref('stg_warehouse__unit_releases') }}
    {{ only_touched_units() }}

    union all

    select
        din, product_code, 'shipped' as movement, toUInt8(4) as movement_rank,
        occurred_at as moved_at, facility_id, to_facility_id as location_id,
        '' as cause, '' as recipient_id, event_id, ingested_at
    from {{ ref('stg_warehouse__shipments') }}
    {{ only_touched_units() }}

    union all

    select
        din, product_code, 'received' as movement, toUInt8(5) as movement_rank,
        occurred_at as moved_at, facility_id, facility_id as location_id,
        '' as cause, '' as recipient_id, event_id, ingested_at
    from {{ ref('stg_warehouse__receipts') }}
    {{ only_touched_units() }}

    union all

    select
        din, product_code, 'issued' as movement, toUInt8(6) as movement_rank,
        occurred_at as moved_at, facility_id, facility_id as location_id,
        '' as cause, recipient_id, event_id, ingested_at
    from {{ ref('stg_warehouse__unit_issues') }}
    {{ only_touched_units() }}

    union all

    select
        din, product_code, 'returned' as movement, toUInt8(7) as movement_rank,
        occurred_at as moved_at, facility_id, facility_id as location_id,
        '' as cause, '' as recipient_id, event_id, ingested_at
    from {{ ref('stg_warehouse__unit_returns') }}
    {{ only_touched_units() }}

    union all

    select
        din, product_code, 'transfused' as movement, toUInt8(8) as movement_rank,
        occurred_at as moved_at, facility_id, facility_id as location_id,
        '' as cause, recipient_id, event_id, ingested_at
    from {{ ref('stg_warehouse__transfusions') }}
    {{ only_touched_units() }}

    union all

    select
        din, product_code, 'discarded' as movement, toUInt8(9) as movement_rank,
        occurred_at as moved_at, facility_id, facility_id as location_id,
        toString(cause) as cause, '' as recipient_id, event_id, ingested_at
    from {{ ref('stg_warehouse__discards') }}
    {{ only_touched_units() }}

),

resolved_unit_events as (

    -- A named component; without a product code, every component of the DIN; a whole
    -- donation discarded before any component was made from it: the donation itself.
    select
        unit_events.din as din,
        arrayJoin(multiIf(
            unit_events.product_code != '', [unit_events.product_code],
            notEmpty(components_by_din.product_codes), components_by_din.product_codes,
            unit_events.movement = 'discarded', [''],
            emptyArrayString()
        )) as product_code,
        unit_events.movement as movement,
        unit_events.movement_rank as movement_rank,
        unit_events.moved_at as moved_at,
        unit_events.facility_id as facility_id,
        unit_events.location_id as location_id,
        unit_events.cause as cause,
        unit_events.recipient_id as recipient_id,
        unit_events.event_id as event_id,
        unit_events.ingested_at as ingested_at
    from unit_events
    left any join components_by_din on unit_events.din = components_by_din.din

),

movements as (

    select * from donation_movements
    union all
    select * from resolved_unit_events

),

with_units as (

    select
        movements.*,
        unit_catalog.component_type as component_type,
        unit_catalog.abo_rh as abo_rh,
        unit_catalog.units as units,
        unit_catalog.volume_ml as volume_ml,
        unit_catalog.expires_at as expires_at,
        unit_catalog.collection_county_code as collection_county_code
    from movements
    inner join unit_catalog
        on movements.din = unit_catalog.din
        and movements.product_code = unit_catalog.product_code

),

-- each unit's movements in order, and what came before each -----------------------------------
sequenced as (

    select
        *,
        max(movement = 'released') over up_to_here as released_so_far,
        max(movement = 'produced') over up_to_here as produced_so_far,
        max(movement = 'released') over before_here as released_before,
        max(movement = 'produced') over before_here as produced_before,
        lagInFrame(movement) over with_previous as previous_movement,
        lagInFrame(toNullable(moved_at)) over with_previous as previous_moved_at,
        lagInFrame(location_id) over with_previous as previous_location_id
    from with_units
    window
        up_to_here as (
            partition by din, product_code
            order by moved_at, movement_rank
            rows between unbounded preceding and current row
        ),
        before_here as (
            partition by din, product_code
            order by moved_at, movement_rank
            rows between unbounded preceding and 1 preceding
        ),
        with_previous as (
            partition by din, product_code
            order by moved_at, movement_rank
            rows between 1 preceding and current row
        )

),

final as (

    select
        cityHash64(event_id, product_code, movement) as movement_id,
        event_id,
        din,
        product_code,
        toLowCardinality(component_type) as component_type,
        toLowCardinality(abo_rh) as abo_rh,
        units,
        volume_ml,
        expires_at,
        toLowCardinality(movement) as movement,
        movement_rank,
        moved_at,
        {{ local_date('moved_at') }} as moved_on,
        toLowCardinality(facility_id) as facility_id,
        toLowCardinality(location_id) as location_id,
        toLowCardinality({{ movement_state('movement', 'released_so_far', 'produced_so_far') }})
            as state,
        toLowCardinality(
            if(previous_movement = '', '',
               {{ movement_state('previous_movement', 'released_before', 'produced_before') }})
        ) as previous_state,
        toLowCardinality(previous_location_id) as previous_location_id,
        previous_moved_at,
        toLowCardinality(cause) as cause,
        recipient_id,
        toLowCardinality(collection_county_code) as collection_county_code,
        cityHash64(
            component_type, abo_rh, units, ifNull(toString(expires_at), ''), moved_at,
            location_id, state, previous_state, previous_location_id,
            ifNull(toString(previous_moved_at), ''), collection_county_code
        ) as row_hash,
        ingested_at as source_ingested_at,
        toInt8(1) as sign,
        now64(3) as built_at
    from sequenced

)
{%- endmacro %}

{#- Pre-hook: the touched DINs' recomputed history, once per incremental run. -#}
{% macro stage_unit_movement_history() -%}
    {%- if is_incremental() -%}
    create or replace table {{ unit_movement_history_relation() }}
    engine = MergeTree order by (movement_id, row_hash) as
    {{ unit_movement_history() }}
    select * from final
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{% macro unit_movement_history_relation() -%}
    {{ this.schema }}.`{{ this.identifier }}__recomputed`
{%- endmacro %}

{% macro drop_unit_movement_history() -%}
    drop table if exists {{ unit_movement_history_relation() }}
{%- endmacro %}
