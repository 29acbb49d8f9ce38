-- The trace read path (streams/trace.py): every unit event again, narrow and in small
-- granules, so one unit's history is a read of one or two 256-row granules instead of whole
-- 8192-row granules of `events` (whose raw-JSON column makes each such granule megabytes).
-- Not partitioned: a DIN lives in few parts, whatever the months its events span. Filled by a
-- materialized view on `events` (every writer goes through it); `body` is the payload object
-- only, the envelope is in the columns. ReplacingMergeTree: an event written twice collapses.
create table if not exists unit_events
(
    din String,
    occurred_at DateTime64(3, 'UTC'),
    event_id UUID,
    event_type LowCardinality(String),
    facility_id LowCardinality(String),
    product_code LowCardinality(String),
    body String CODEC(ZSTD(1))
)
engine = ReplacingMergeTree
order by (din, occurred_at, event_id)
settings index_granularity = 256;

create materialized view if not exists unit_events_from_events to unit_events as
select din, occurred_at, event_id, event_type, facility_id, product_code,
       JSONExtractRaw(payload, 'payload') as body
from events
where din != '';

insert into unit_events
select din, occurred_at, event_id, event_type, facility_id, product_code,
       JSONExtractRaw(payload, 'payload')
from events
where din != '';

-- Recall notices join a unit's history as 'recall.notice' rows, so a whole trace is one read.
create materialized view if not exists unit_events_from_recalls to unit_events as
select din, sent_at as occurred_at,
       reinterpretAsUUID(MD5(concat(toString(event_id), '|', product_code))) as event_id,
       'recall.notice' as event_type, addressed_to as facility_id, product_code,
       toJSONString(map('recall_id', recall_id, 'lookback_id', lookback_id, 'reason', reason))
           as body
from recall_notices;

insert into unit_events
select din, sent_at, reinterpretAsUUID(MD5(concat(toString(event_id), '|', product_code))),
       'recall.notice', addressed_to, product_code,
       toJSONString(map('recall_id', recall_id, 'lookback_id', lookback_id, 'reason', reason))
from recall_notices;
