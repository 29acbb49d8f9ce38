-- Cold-chain excursions, one row per state an excursion reached (opened, extended, confirmed,
-- ended); ReplacingMergeTree keeps the latest by `version`, so read with `final`. A replayed
-- batch writes identical rows, which collapse.
create table if not exists coldchain_excursions
(
    excursion_id String,
    equipment_id String,
    equipment_kind LowCardinality(String),
    facility_id LowCardinality(String),
    condition_key LowCardinality(String),
    condition_text String,
    component_types Array(LowCardinality(String)),
    breaches Array(LowCardinality(String)),
    status LowCardinality(String),
    started_at DateTime64(3, 'UTC'),
    last_reading_at DateTime64(3, 'UTC'),
    ended_at Nullable(DateTime64(3, 'UTC')),
    confirmed_at Nullable(DateTime64(3, 'UTC')),
    duration_minutes Float64,
    peak_c Float64,
    lowest_c Float64,
    highest_c Float64,
    readings_out UInt32,
    units_flagged UInt32,
    version UInt64,
    written_at DateTime64(3, 'UTC') default now64(3)
)
engine = ReplacingMergeTree(version)
order by (equipment_id, started_at, excursion_id);

-- Units the cold chain flagged: exposed to a confirmed excursion (quarantine recommended) or
-- returned after too long out of refrigeration (discard recommended). flag_id is deterministic.
create table if not exists coldchain_unit_flags
(
    flag_id String,
    din String,
    product_code LowCardinality(String),
    component_type LowCardinality(String),
    reason LowCardinality(String),
    recommendation LowCardinality(String),
    facility_id LowCardinality(String),
    equipment_id String,
    excursion_id String,
    exposed_from DateTime64(3, 'UTC'),
    flagged_at DateTime64(3, 'UTC'),
    detail String,
    written_at DateTime64(3, 'UTC') default now64(3)
)
engine = ReplacingMergeTree
order by (din, flag_id);
