-- Movements per day x kind x facility x component type x ABO/RhD group x discard cause: units,
-- movements and volume (sign-aware sums of the ledger). What clinical use, wastage and supply
-- read instead of the row-per-movement ledger. Append-only like the ledger.
{{
    config(
        materialized=bt_materialized('incremental'),
        incremental_strategy='append',
        engine='MergeTree()',
        order_by='(moved_on, movement, facility_id, component_type)',
    )
}}

with

movements as (

    select * from {{ ref('fct_unit_movements') }}
    {% if is_incremental() %}
        where {{ built_after_watermark() }}
    {% endif %}

),

final as (

    select
        moved_on,
        movement,
        facility_id,
        location_id,
        component_type,
        abo_rh,
        cause,
        product_code = '' as whole_donation,
        sum(sign * units) as units,
        sum(sign) as movements,
        sum(sign * volume_ml) as volume_ml,
        max(built_at) as source_built_at
    from movements
    group by
        moved_on, movement, facility_id, location_id, component_type, abo_rh, cause,
        whole_donation

)

select * from final
