-- Changes of stock per day x facility x ABO/RhD group x component type x stock state, read off
-- the movement ledger, and the units issued. A movement into a stock state (quarantine,
-- available, in transit) adds the unit's units on its day and takes them off again on the day
-- it expires; the movement that ends that state takes them off on its day instead (and gives
-- back the expiry's). So stock at the end of a day is the sum of every change up to that day.
-- Append-only like the ledger: each run adds the changes of the ledger rows built since.
{{
    config(
        materialized=bt_materialized('incremental'),
        incremental_strategy='append',
        engine='MergeTree()',
        order_by='(stock_date, location_id, component_type, abo_rh, state)',
    )
}}

with

movements as (

    select * from {{ ref('fct_unit_movements') }}
    {% if is_incremental() %}
        where {{ built_after_watermark() }}
    {% endif %}

),

changes as (

    -- Up to four changes per movement, made in one pass over the new ledger rows:
    --   into a stock state (unless already expired): +units now, -units at expiry;
    --   out of the previous stock state, before its expiry: -units now, +units back at expiry;
    -- and the units issued.
    select
        sign * units as signed_units,
        expires_at is null or moved_at < expires_at as before_expiry,
        state in {{ stock_states() }} and before_expiry as enters_stock,
        previous_state in {{ stock_states() }} and before_expiry as leaves_stock,
        {{ local_date('expires_at') }} as expires_on,
        arrayJoin(arrayFilter(
            change -> change.6,
            [
                (
                    moved_on, location_id, state, signed_units, toDecimal64(0, 3),
                    enters_stock
                ),
                (
                    assumeNotNull(expires_on), location_id, state, -signed_units,
                    toDecimal64(0, 3), enters_stock and expires_at is not null
                ),
                (
                    moved_on, previous_location_id, previous_state, -signed_units,
                    toDecimal64(0, 3), leaves_stock
                ),
                (
                    assumeNotNull(expires_on), previous_location_id, previous_state, signed_units,
                    toDecimal64(0, 3), leaves_stock and expires_at is not null
                ),
                (
                    moved_on, facility_id, toLowCardinality(''), toDecimal64(0, 3), signed_units,
                    movement = 'issued'
                )
            ]
        )) as change,
        change.1 as change_date,
        change.2 as change_location_id,
        change.3 as change_state,
        change.4 as delta,
        change.5 as issued,
        abo_rh,
        component_type,
        built_at
    from movements

),

final as (

    select
        change_date as stock_date,
        change_location_id as location_id,
        abo_rh,
        component_type,
        change_state as state,
        sum(delta) as delta_units,
        sum(issued) as issued_units,
        max(built_at) as source_built_at
    from changes
    group by change_date, change_location_id, abo_rh, component_type, change_state

)

select * from final
