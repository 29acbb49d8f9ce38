-- Supply early warning and lookback notices to hospitals (issue 16).

-- The typed table of `lookback.acknowledged` (generated from the contract by
-- infra.tables.typed_tables_ddl(["lookback.acknowledged"]); a unit test keeps it in step).
create table if not exists lookback_acknowledgements
(
    event_id UUID,
    occurred_at DateTime64(3, 'UTC'),
    recorded_at DateTime64(3, 'UTC'),
    facility_id LowCardinality(String),
    notice_id String,
    lookback_id String,
    acknowledged_by String,
    note String,
    src_partition UInt16,
    src_offset UInt64,
    ingested_at DateTime64(3, 'UTC') default now64(3)
)
engine = MergeTree
partition by toYYYYMM(occurred_at)
order by (notice_id, occurred_at)
settings non_replicated_deduplication_window = 10000;


-- One notice per lookback and hospital that issued or transfused a component in its scope:
-- the units and the recipients' pseudonyms. Written once, keyed by the source offset of the
-- record that opened the lookback (idempotent under replays).
create table if not exists lookback_notices
(
    notice_id String,
    lookback_id String,
    hospital_id LowCardinality(String),
    units Array(String),
    recipients Array(String),
    sent_at DateTime64(3, 'UTC'),
    due_at DateTime64(3, 'UTC'),
    event_id UUID,
    src_partition UInt16,
    src_offset UInt64,
    ingested_at DateTime64(3, 'UTC') default now64(3)
)
engine = MergeTree
order by (lookback_id, hospital_id)
settings non_replicated_deduplication_window = 10000;

-- Reminders sent for notices not acknowledged in time.
create table if not exists lookback_notice_reminders
(
    notice_id String,
    lookback_id String,
    hospital_id LowCardinality(String),
    reminded_at DateTime64(3, 'UTC'),
    reminder UInt16
)
engine = MergeTree
order by (notice_id, reminded_at);

-- Supply forecasts (models/supply.py): one row per run, group, component and day ahead, with
-- the time range of the history it was fitted on, so a forecast can be judged later.
create table if not exists supply_forecasts
(
    run_id String,
    run_at DateTime64(3, 'UTC'),
    history_from Date32,
    history_to Date32,
    inputs_first_event Nullable(DateTime64(3, 'UTC')),
    inputs_last_event Nullable(DateTime64(3, 'UTC')),
    abo_rh LowCardinality(String),
    component_type LowCardinality(String),
    day Date32,
    ahead UInt16,
    collection Float64,
    collection_low Float64,
    collection_high Float64,
    use Float64,
    use_low Float64,
    use_high Float64,
    stock Float64,
    stock_low Float64,
    stock_high Float64,
    days_of_supply Nullable(Float64),
    level LowCardinality(String),
    p_tight Float64,
    p_short Float64,
    p_critical Float64
)
engine = MergeTree
order by (abo_rh, component_type, run_at, day);

-- The open early-warning episodes, as raised and withdrawn (latest row per key wins).
create table if not exists supply_warnings
(
    abo_rh LowCardinality(String),
    component_type LowCardinality(String),
    episode String,
    state LowCardinality(String),
    level LowCardinality(String),
    crossing_day Nullable(Date32),
    ahead UInt16,
    probability Float64,
    run_id String,
    changed_at DateTime64(3, 'UTC')
)
engine = ReplacingMergeTree(changed_at)
order by (abo_rh, component_type);
