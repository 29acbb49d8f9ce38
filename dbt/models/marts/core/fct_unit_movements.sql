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
-- The history itself is macros/unit_movement_history.sql: an incremental run stages it once
-- for the touched DINs in a pre-hook (ClickHouse inlines a CTE at every use).
{%- set movement_sources = [
    'stg_warehouse__donations', 'stg_warehouse__components', 'stg_warehouse__unit_releases',
    'stg_warehouse__shipments', 'stg_warehouse__receipts', 'stg_warehouse__unit_issues',
    'stg_warehouse__unit_returns', 'stg_warehouse__transfusions', 'stg_warehouse__discards',
] -%}

{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        engine='MergeTree()',
        order_by='(din, product_code, moved_at, movement_rank)',
        partition_by='toYYYYMM(moved_at)',
        pre_hook=[
            "{{ stage_touched_units(" ~ movement_sources ~ ") }}",
            "{{ stage_unit_movement_history() }}",
        ],
        post_hook=["{{ drop_unit_movement_history() }}", "{{ drop_touched_units() }}"],
    )
}}

{% if is_incremental() %}

with

recomputed as (

    select * from {{ unit_movement_history_relation() }}

),

held as (

    select * from {{ this }}
    where din in (select din from {{ touched_units_relation() }})

),

held_versions as (

    select movement_id, row_hash
    from held
    group by movement_id, row_hash
    having sum(sign) > 0

),

stale as (

    -- versions a late event made stale: held (one +1 row of each), but no longer computed
    select * from held
    where sign = 1
        and (movement_id, row_hash) in (select movement_id, row_hash from held_versions)
        and (movement_id, row_hash) not in (select movement_id, row_hash from recomputed)
    limit 1 by movement_id, row_hash

),

changes as (

    -- movements the ledger does not hold yet, or holds in an older version
    select * from recomputed
    where (movement_id, row_hash) not in (select movement_id, row_hash from held_versions)

    union all

    -- and a cancelling copy of each stale version
    select * except (sign, built_at), toInt8(-1) as sign, now64(3) as built_at
    from stale

)

select * from changes

{% else %}

{{ unit_movement_history() }}

select * from final

{% endif %}
