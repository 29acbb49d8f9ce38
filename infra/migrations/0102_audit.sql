-- Who traced what, when and from where (streams/trace.py: record_audit). Append-only:
-- the Log engine has no mutations, so `alter table ... update/delete` and lightweight
-- `delete from` are refused by the engine itself; no platform code path truncates or drops it
-- (tests/unit/test_trace_audit_guard.py scans for one). On a ClickHouse server, also grant the
-- platform's user only INSERT and SELECT on this table. Kept for good: no TTL (records >= 30 y).
create table if not exists audit_log
(
    at DateTime64(3, 'UTC'),
    request_id UUID,
    actor String,
    channel LowCardinality(String),
    client String,
    action LowCardinality(String),
    subject String,
    outcome LowCardinality(String),
    detail String
)
engine = Log;
