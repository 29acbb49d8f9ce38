-- Every alert raised by a processor, with its evidence (JSON). alert_id is deterministic, so
-- an alert raised twice (a replay) can be collapsed with `any()`/`limit 1 by alert_id`.
create table if not exists alerts
(
    alert_id String,
    rule LowCardinality(String),
    severity LowCardinality(String),
    subject String,
    message_en String,
    message_zh String,
    raised_at DateTime64(3, 'UTC'),
    occurred_at DateTime64(3, 'UTC'),
    din String,
    product_code LowCardinality(String),
    facility_id LowCardinality(String),
    equipment_id String,
    donor_id String,
    evidence String,
    src_partition UInt16,
    src_offset UInt64,
    ingested_at DateTime64(3, 'UTC') default now64(3)
)
engine = MergeTree
order by (rule, raised_at, alert_id)
settings non_replicated_deduplication_window = 10000;
