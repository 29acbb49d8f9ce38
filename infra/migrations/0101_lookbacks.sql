-- Lookbacks (streams/lookback.py): opened by the lifecycle processor when a donor's infectious
-- marker is confirmed reactive. Rows are written once, keyed by the source offset of the
-- record that opened them (idempotent under replays); where each component is *now* is
-- computed live from `events` when a lookback is shown.
create table if not exists lookbacks
(
    lookback_id String,
    donor_id String,
    index_din String,
    markers Array(String),
    confirmed_by LowCardinality(String),
    detected_at DateTime64(3, 'UTC'),
    opened_at DateTime64(3, 'UTC'),
    window_rule LowCardinality(String),
    window_start Nullable(DateTime64(3, 'UTC')),
    facility_id LowCardinality(String),
    donations UInt32,
    components UInt32,
    recipients UInt32,
    recalls UInt32,
    src_partition UInt16,
    src_offset UInt64,
    ingested_at DateTime64(3, 'UTC') default now64(3)
)
engine = MergeTree
order by (lookback_id)
settings non_replicated_deduplication_window = 10000;

-- Every donation and component in a lookback's scope, as it stood when the lookback opened.
-- product_code '' is the donation itself (or whole blood never split).
create table if not exists lookback_units
(
    lookback_id String,
    din String,
    product_code LowCardinality(String),
    component_type LowCardinality(String),
    role LowCardinality(String),
    collected_at DateTime64(3, 'UTC'),
    status_at_open LowCardinality(String),
    holder_facility LowCardinality(String),
    recipient_id String,
    recall_id String,
    src_partition UInt16,
    src_offset UInt64,
    ingested_at DateTime64(3, 'UTC') default now64(3)
)
engine = MergeTree
order by (lookback_id, din, product_code)
settings non_replicated_deduplication_window = 10000;

-- Recall notices sent on the recalls topic, one row per recalled component, ordered by unit
-- so a unit's trace shows them with one range read.
create table if not exists recall_notices
(
    recall_id String,
    lookback_id String,
    addressed_to LowCardinality(String),
    din String,
    product_code LowCardinality(String),
    reason String,
    sent_at DateTime64(3, 'UTC'),
    event_id UUID,
    src_partition UInt16,
    src_offset UInt64,
    ingested_at DateTime64(3, 'UTC') default now64(3)
)
engine = MergeTree
order by (din, recall_id, product_code)
settings non_replicated_deduplication_window = 10000;
