{#- The movements of units and what each unit is, gathered from the warehouse's event tables
    for fct_unit_movements (see that model): a WITH list ending in the CTEs `movements` (one row
    per movement of each unit, narrow: hashes for ids) and `unit_attributes` (one row per unit,
    from its collection or production). The model's pre-hooks stage both as in-memory tables
    before the model orders each unit's movements: ClickHouse inlines a CTE at every use, and a
    window fed straight from this union of views sorts far slower than one fed from a table.
    Inside an incremental run it covers only the DINs staged by stage_touched_units. -#}
{% macro unit_movement_sources() -%}
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

-- what a movement without a product code covers: every component of its DIN -------------------
components_by_din as (

    select
        din,
        groupArray(product_code) as product_codes,
        min(occurred_at) as made_at,
        -- ties broken by event id: every component of a donation is often made at the same
        -- moment, and argMin over ties follows the order rows are read in, which merges change
        argMin(facility_id, (occurred_at, event_id)) as made_by,
        max(ingested_at) as last_ingested_at
    from components
    group by din

),

-- every movement, one row per unit it applies to ------------------------------------------------
-- A unit's defining row (its collection, or its production) says what the unit is: type,
-- group, units, volume, expiry, collection county. Every movement row gets that by a join on a
-- hash of the unit, after the window below (which then sorts fewer columns).
defining_movements as (

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
        ingested_at,
        multiIf(
            donation_kind = 'apheresis_platelets', 'platelets',
            donation_kind = 'apheresis_plasma', 'plasma',
            'whole_blood'
        ) as unit_component_type,
        abo_rh as unit_abo_rh,
        {{ collection_units('donation_kind', 'volume_ml', 'therapeutic_units') }} as unit_units,
        volume_ml as unit_volume_ml,
        toNullable(
            occurred_at
            + toIntervalSecond(toInt64({{ var('whole_blood_shelf_life_days') }} * 86400))
        ) as unit_expires_at,
        county_code as unit_county_code
    from donations

    union all

    select
        components.din as din,
        components.product_code as product_code,
        'produced' as movement,
        toUInt8(2) as movement_rank,
        components.occurred_at as moved_at,
        components.facility_id as facility_id,
        components.facility_id as location_id,
        '' as cause,
        '' as recipient_id,
        components.event_id as event_id,
        components.ingested_at as ingested_at,
        components.component_type as unit_component_type,
        components.abo_rh as unit_abo_rh,
        {{ component_units('donations.donation_kind', 'donations.volume_ml',
                           'components.volume_ml') }} as unit_units,
        components.volume_ml as unit_volume_ml,
        components.expires_at as unit_expires_at,
        donations.county_code as unit_county_code
    from components
    left any join donations on components.din = donations.din

),

other_movements as (

    -- the donation's first component ends its wait to be processed. A donation is processed
    -- once, so its DIN names the movement: naming it after the first component's event gave
    -- it a new id whenever another component won a tie or arrived late with an earlier time,
    -- and the run cancelled the old id instead of replacing a version of it (issue 9)
    select
        din, '' as product_code, 'processed' as movement, toUInt8(1) as movement_rank,
        made_at as moved_at, made_by as facility_id, made_by as location_id, '' as cause,
        '' as recipient_id, din as event_id, last_ingested_at as ingested_at
    from components_by_din

    union all

    select
        din, product_code, 'released' as movement, toUInt8(3) as movement_rank,
        occurred_at as moved_at, facility_id, facility_id as location_id,
        '' as cause, '' as recipient_id, event_id, ingested_at
    from (select *, '' as product_code from {{ ref('stg_warehouse__unit_releases') }})
    {{ only_touched_units() }}

    {#- the unit events that move or end a unit, in their rank order: (movement, rank, the
        staging model, where the unit is after it, the cause, the recipient) -#}
    {%- for movement, rank, model, location, cause, recipient in [
        ('shipped', 4, 'stg_warehouse__shipments', 'to_facility_id', "''", "''"),
        ('received', 5, 'stg_warehouse__receipts', 'facility_id', "''", "''"),
        ('issued', 6, 'stg_warehouse__unit_issues', 'facility_id', "''", 'recipient_id'),
        ('returned', 7, 'stg_warehouse__unit_returns', 'facility_id', "''", "''"),
        ('transfused', 8, 'stg_warehouse__transfusions', 'facility_id', "''", 'recipient_id'),
        ('discarded', 9, 'stg_warehouse__discards', 'facility_id', 'toString(cause)', "''"),
    ] %}

    union all

    select
        din, product_code, '{{ movement }}' as movement, toUInt8({{ rank }}) as movement_rank,
        occurred_at as moved_at, facility_id, {{ location }} as location_id,
        {{ cause }} as cause, {{ recipient }} as recipient_id, event_id, ingested_at
    from {{ ref(model) }}
    {{ only_touched_units() }}
    {%- endfor %}

),

resolved_movements as (

    -- a named component, or the donation's processing, as such
    select * from other_movements
    where product_code != '' or movement = 'processed'

    union all

    -- no product code: every component of the DIN; a whole donation discarded before any
    -- component was made from it: the donation itself
    select
        unnamed.din as din,
        arrayJoin(multiIf(
            notEmpty(components_by_din.product_codes), components_by_din.product_codes,
            unnamed.movement = 'discarded', [''],
            emptyArrayString()
        )) as product_code,
        unnamed.movement as movement,
        unnamed.movement_rank as movement_rank,
        unnamed.moved_at as moved_at,
        unnamed.facility_id as facility_id,
        unnamed.location_id as location_id,
        unnamed.cause as cause,
        unnamed.recipient_id as recipient_id,
        unnamed.event_id as event_id,
        unnamed.ingested_at as ingested_at
    from (
        select * from other_movements where product_code = '' and movement != 'processed'
    ) as unnamed
    left any join components_by_din on unnamed.din = components_by_din.din

),

movements as (

    -- narrow before the sort below: hashes for ids, low-cardinality strings
    select
        cityHash64(din, product_code) as unit_key,
        cityHash64(event_id, product_code, movement) as movement_id,
        toLowCardinality(movement) as movement,
        movement_rank,
        moved_at,
        toLowCardinality(facility_id) as facility_id,
        toLowCardinality(location_id) as location_id,
        toLowCardinality(cause) as cause,
        if(recipient_id = '', 0, cityHash64(recipient_id)) as recipient_key,
        ingested_at
    from (
        select
            din, product_code, movement, movement_rank, moved_at, facility_id, location_id,
            cause, recipient_id, event_id, ingested_at
        from defining_movements
        union all
        select * from resolved_movements
    )

),

-- what each unit is, from its defining row (one per unit)
unit_attributes as (

    select
        cityHash64(din, product_code) as unit_key,
        din,
        product_code,
        toLowCardinality(unit_component_type) as component_type,
        toLowCardinality(unit_abo_rh) as abo_rh,
        unit_units as units,
        unit_volume_ml as volume_ml,
        unit_expires_at as expires_at,
        toLowCardinality(unit_county_code) as collection_county_code
    from defining_movements

)

{%- endmacro %}

{% macro unit_movements_relation() -%}
    {{ this.schema }}.`{{ this.identifier }}__movements`
{%- endmacro %}

{% macro unit_attributes_relation() -%}
    {{ this.schema }}.`{{ this.identifier }}__units`
{%- endmacro %}

{#- Pre-hooks of fct_unit_movements: stage the movements and the units. -#}
{% macro stage_unit_movements() -%}
    create or replace table {{ unit_movements_relation() }} engine = Memory as
    {{ unit_movement_sources() }}
    select * from movements
{%- endmacro %}

{% macro stage_unit_attributes() -%}
    create or replace table {{ unit_attributes_relation() }} engine = Memory as
    {{ unit_movement_sources() }}
    select * from unit_attributes
{%- endmacro %}

{% macro drop_unit_staging() -%}
    drop table if exists {{ unit_movements_relation() }}
{%- endmacro %}

{% macro drop_unit_attribute_staging() -%}
    drop table if exists {{ unit_attributes_relation() }}
{%- endmacro %}
