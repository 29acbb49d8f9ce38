-- One row per donation (DIN) with its counting: units (200 ml = 1 unit; apheresis platelets by
-- therapeutic dose) and what it counts towards honours. A donation never changes once
-- collected, so the model only appends: rows ingested since the last run (less an overlap for
-- inserts still committing then) whose DIN it does not hold yet.
{{
    config(
        materialized=bt_materialized('incremental'),
        incremental_strategy='append',
        engine='MergeTree()',
        order_by='(collected_on, county_code, site_id)',
        partition_by='toYYYYMM(collected_on)',
    )
}}

with

donations as (

    select * from {{ ref('stg_warehouse__donations') }}
    {% if is_incremental() %}
        where {{ ingested_after_watermark() }}
            and din not in (select din from {{ this }})
    {% endif %}

),

counted as (

    select
        din,
        event_id,
        donor_id,
        occurred_at as collected_at,
        occurred_on as collected_on,
        toStartOfMonth(occurred_on) as collected_month,
        toYear(occurred_on) as collected_year,
        facility_id,
        site_id,
        site_kind,
        county_code,
        donation_kind,
        donor_group,
        donor_age,
        {{ age_band('donor_age') }} as age_band,
        donor_sex,
        abo_rh,
        first_time,
        if(first_time, 'first_time', 'repeat') as donor_type,
        volume_ml,
        therapeutic_units,
        {{ collection_units('donation_kind', 'volume_ml', 'therapeutic_units') }} as units,
        {{ honour_count('donation_kind', 'volume_ml', 'therapeutic_units') }} as honour_count,
        ingested_at as source_ingested_at
    from donations

)

select * from counted
