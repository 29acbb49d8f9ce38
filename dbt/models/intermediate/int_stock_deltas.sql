-- Changes of stock per day x facility x ABO/RhD group x component type x stock state, read off
-- the movement ledger, and the units issued. A movement into a stock state (quarantine,
-- available, in transit) adds the unit's units on its day and takes them off again on the day
-- it expires; the movement that ends that state takes them off on its day instead (and gives
-- back the expiry's). So stock at the end of a day is the sum of every change up to that day.
-- Append-only like the ledger: each run adds the changes of the ledger rows built since.
{{
    config(
        materialized='incremental',
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

    -- into a stock state, unless the unit had already expired
    select moved_on as stock_date, location_id, abo_rh, component_type, state,
        sign * units as delta, toDecimal64(0, 3) as issued, built_at
    from movements
    where state in {{ stock_states() }} and (expires_at is null or moved_at < expires_at)

    union all

    -- ... and out of it when it expires
    select {{ local_date('expires_at') }} as stock_date, location_id, abo_rh, component_type,
        state, -sign * units as delta, toDecimal64(0, 3) as issued, built_at
    from movements
    where state in {{ stock_states() }} and expires_at is not null and moved_at < expires_at

    union all

    -- out of the previous stock state by this movement, before the expiry
    select moved_on as stock_date, previous_location_id as location_id, abo_rh, component_type,
        previous_state as state, -sign * units as delta, toDecimal64(0, 3) as issued, built_at
    from movements
    where previous_state in {{ stock_states() }}
        and (expires_at is null or moved_at < expires_at)

    union all

    -- ... so that expiry no longer takes it out
    select {{ local_date('expires_at') }} as stock_date, previous_location_id as location_id,
        abo_rh, component_type, previous_state as state, sign * units as delta,
        toDecimal64(0, 3) as issued, built_at
    from movements
    where previous_state in {{ stock_states() }}
        and expires_at is not null and moved_at < expires_at

    union all

    select moved_on as stock_date, facility_id as location_id, abo_rh, component_type,
        '' as state, toDecimal64(0, 3) as delta, sign * units as issued, built_at
    from movements
    where movement = 'issued'

),

final as (

    select
        assumeNotNull(stock_date) as stock_date,
        location_id,
        abo_rh,
        component_type,
        state,
        sum(delta) as delta_units,
        sum(issued) as issued_units,
        max(built_at) as source_built_at
    from changes
    group by stock_date, location_id, abo_rh, component_type, state

)

select * from final
