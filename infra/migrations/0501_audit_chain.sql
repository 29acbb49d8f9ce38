-- Tamper evidence for audit_log (infra/audit.py): one link per audit row, same request_id.
-- A link's hash is SHA-256 over the previous link's hash and the audit row's fields, so an
-- altered, removed or inserted row breaks the chain, and `bloodtrace audit verify` names the
-- first broken link. Each writing process keeps a chain of its own (`chain`, `seq` from 1):
-- workers never race for one "previous row". Log engine, like audit_log: append-only, no TTL
-- (kept as long as the audit log, >= 30 years).
create table if not exists audit_chain
(
    request_id UUID,
    chain String,
    seq UInt64,
    prev_hash String,
    hash String
)
engine = Log;
