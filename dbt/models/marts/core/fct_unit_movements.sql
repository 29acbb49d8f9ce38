-- The unit movement ledger: one row per movement of each unit, with the state and place it
-- leaves the unit in and the state and place it came from. Stock, wastage and clinical use are
-- all read off this ledger, so stock is never typed in by anyone: it is a by-product of the
-- operational events.
--
-- A "unit" is a component (DIN + product code). The donation itself is a unit too (product
-- code '') while it waits to be processed: collected into quarantine at the collection
-- facility, ended by its first component (`processed`) or by a whole-donation discard.
-- A release covers every component of its DIN; a shipment, receipt, issue, return,
-- transfusion or discard without a product code covers every component of its DIN.
--
-- Append-only, like ClickHouse likes it (no deletes, no mutations): a row only depends on the
-- movements before it, so a new event appends rows and never changes old ones. An incremental
-- run recomputes the history of every DIN with a new event (source tables are ordered by din:
-- key lookups) and appends the rows the ledger does not hold yet. If an event arrives after
-- later movements of its unit, those later rows change: the run appends a cancelling copy
-- (sign -1) of each stale row and its new version (sign +1). Consumers therefore sum `sign`
-- (and sign x units), never count rows.
--
-- Which movements there are and what each unit is come from macros/unit_movement_history.sql,
-- staged by the pre-hooks (for the touched DINs only in an incremental run); this model puts
-- each unit's movements in order.
{%- set movement_sources = [
    'stg_warehouse__donations', 'stg_warehouse__components', 'stg_warehouse__unit_releases',
    'stg_warehouse__shipments', 'stg_warehouse__receipts', 'stg_warehouse__unit_issues',
    'stg_warehouse__unit_returns', 'stg_warehouse__transfusions', 'stg_warehouse__discards',
] -%}

-- depends_on: {{ ref('stg_warehouse__donations') }}
-- depends_on: {{ ref('stg_warehouse__components') }}
-- depends_on: {{ ref('stg_warehouse__unit_releases') }}
-- depends_on: {{ ref('stg_warehouse__shipments') }}
-- depends_on: {{ ref('stg_warehouse__receipts') }}
-- depends_on: {{ ref('stg_warehouse__unit_issues') }}
-- depends_on: {{ ref('stg_warehouse__unit_returns') }}
-- depends_on: {{ ref('stg_warehouse__transfusions') }}
-- depends_on: {{ ref('stg_warehouse__discards') }}

{{
    config(
        materialized=bt_materialized('incremental'),
        incremental_strategy='append',
        engine='MergeTree()',
        order_by='(unit_key, moved_at, movement_rank)',
        pre_hook=[
            "{{ stage_touched_units(" ~ movement_sources ~ ") }}",
            "{{ stage_unit_movements() }}",
            "{{ stage_unit_attributes() }}",
        ],
        post_hook=[
            "{{ drop_unit_staging() }}",
            "{{ drop_unit_attribute_staging() }}",
            "{{ drop_touched_units() }}",
        ],
    )
}}

with

movements as (

    select * from {{ unit_movements_relation() }}

),

unit_attributes as (

    select * from {{ unit_attributes_relation() }}

),

-- each unit's movements in order, and what came before each (partitioned by a hash of the unit:
-- sorting on a number is cheaper than on two strings) ------------------------------------------
sequenced as (

    -- one window (one sort): counts so far give "released / produced up to here" and, less the
    -- current row, "before here"; lagInFrame gives the previous movement
    select
        *,
        sum(movement = 'released') over up_to_here as releases_so_far,
        sum(movement = 'produced') over up_to_here as productions_so_far,
        releases_so_far > 0 as released_so_far,
        productions_so_far > 0 as produced_so_far,
        releases_so_far - (movement = 'released') > 0 as released_before,
        productions_so_far - (movement = 'produced') > 0 as produced_before,
        lagInFrame(movement) over up_to_here as previous_movement,
        lagInFrame(toNullable(moved_at)) over up_to_here as previous_moved_at,
        lagInFrame(location_id) over up_to_here as previous_location_id
    from movements
    window up_to_here as (
        -- movement_id last: two movements of a unit at the same moment and rank must come in
        -- the same order in every run, or their "previous" columns (and row hashes) flip
        partition by unit_key
        order by moved_at, movement_rank, movement_id
        rows between unbounded preceding and current row
    )

),

history as (

    select
        sequenced.unit_key as unit_key,
        sequenced.movement_id as movement_id,
        unit_attributes.din as din,
        unit_attributes.product_code as product_code,
        unit_attributes.component_type as component_type,
        unit_attributes.abo_rh as abo_rh,
        unit_attributes.units as units,
        unit_attributes.volume_ml as volume_ml,
        unit_attributes.expires_at as expires_at,
        sequenced.movement as movement,
        sequenced.movement_rank as movement_rank,
        sequenced.moved_at as moved_at,
        {{ local_date('sequenced.moved_at') }} as moved_on,
        sequenced.facility_id as facility_id,
        sequenced.location_id as location_id,
        toLowCardinality({{ movement_state(
            'sequenced.movement', 'sequenced.released_so_far', 'sequenced.produced_so_far'
        ) }}) as state,
        toLowCardinality(if(
            sequenced.previous_movement = '', '',
            {{ movement_state(
                'sequenced.previous_movement', 'sequenced.released_before',
                'sequenced.produced_before'
            ) }}
        )) as previous_state,
        sequenced.previous_location_id as previous_location_id,
        sequenced.previous_moved_at as previous_moved_at,
        sequenced.cause as cause,
        sequenced.recipient_key as recipient_key,
        unit_attributes.collection_county_code as collection_county_code,
        cityHash64(
            component_type, abo_rh, units, ifNull(expires_at, toDateTime64(0, 3, 'UTC')),
            moved_at, location_id, state, previous_state, previous_location_id,
            ifNull(previous_moved_at, toDateTime64(0, 3, 'UTC')), collection_county_code
        ) as row_hash,
        sequenced.ingested_at as source_ingested_at,
        toInt8(1) as sign,
        now64(3) as built_at
    from sequenced
    -- a movement of a unit never collected or produced here is not a movement of stock
    inner join unit_attributes on sequenced.unit_key = unit_attributes.unit_key

)

{% if is_incremental() %}
    ,

    held as (

        select * from {{ this }}
        where unit_key in (select unit_key from unit_attributes)

    ),

    held_versions as (

        select
            movement_id,
            row_hash
        from held
        group by movement_id, row_hash
        having sum(sign) > 0

    ),

    stale as (

    -- versions a late event made stale: held (one +1 row of each), but no longer computed
        select * from held
        where sign = 1
            and (movement_id, row_hash) in (
                select
                    movement_id,
                    row_hash
                from held_versions
            )
            and (movement_id, row_hash) not in (
                select
                    movement_id,
                    row_hash
                from history
            )
        limit 1 by movement_id, row_hash

    ),

    changes as (

    -- movements the ledger does not hold yet, or holds in an older version
        select * from history
        where (movement_id, row_hash) not in (
                select
                    movement_id,
                    row_hash
                from held_versions
            )

        union all

        -- and a cancelling copy of each stale version
        select
            * except (sign, built_at),
            toInt8(-1) as sign,
            now64(3) as built_at
        from stale

    )

    select * from changes

{% else %}

    select * from history

{% endif %}
