-- Every accepted event once, ordered by unit so a unit's history is one range read.
create table if not exists events
(
    event_id UUID,
    event_type LowCardinality(String),
    schema_version UInt16,
    occurred_at DateTime64(3, 'UTC'),
    recorded_at DateTime64(3, 'UTC'),
    facility_id LowCardinality(String),
    din String,
    product_code LowCardinality(String),
    donor_id String,
    recipient_id String,
    equipment_id String,
    payload String,
    src_partition UInt16,
    src_offset UInt64,
    ingested_at DateTime64(3, 'UTC') default now64(3)
)
engine = MergeTree
partition by toYYYYMM(occurred_at)
order by (din, occurred_at, event_id)
settings non_replicated_deduplication_window = 10000;

-- Every refused event, with its raw bytes and the reason, wherever it was refused.
create table if not exists rejected_events
(
    rejected_at DateTime64(3, 'UTC'),
    source LowCardinality(String),
    reason LowCardinality(String),
    detail String,
    event_id String,
    event_type String,
    facility_id String,
    raw String,
    src_partition UInt16,
    src_offset UInt64,
    ingested_at DateTime64(3, 'UTC') default now64(3)
)
engine = MergeTree
order by (reason, rejected_at)
settings non_replicated_deduplication_window = 10000;
