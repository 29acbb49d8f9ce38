-- Who may emit and who may read (infra/auth.py). One row per change of a credential: creating,
-- rotating and revoking each insert a newer version of the row (ReplacingMergeTree keeps the
-- newest by `version`), so every platform process of a deployment reads the same state from
-- the warehouse. Secrets are stored only as argon2 hashes, never in clear.
create table if not exists credentials
(
    id String,
    kind LowCardinality(String),
    name String,
    role LowCardinality(String),
    facility_id String,
    secret_hash String,
    revoked UInt8,
    created_at DateTime64(3, 'UTC'),
    changed_at DateTime64(3, 'UTC'),
    changed_by String,
    version UInt64
)
engine = ReplacingMergeTree(version)
order by id;
