-- Data quality (expectations/): what each run checked, what it found, and why units were lost.

-- One row per finished run. window_end is the ingested_at high-water mark the run covered and
-- as_of the data clock it judged freshness and dispositions by: the next incremental run starts
-- after both. A run that fails midway writes no row here, so its window is checked again.
create table if not exists quality_runs
(
    run_id String,
    started_at DateTime64(3, 'UTC'),
    finished_at DateTime64(3, 'UTC'),
    mode LowCardinality(String),
    window_column LowCardinality(String),
    window_start Nullable(DateTime64(3, 'UTC')),
    window_end DateTime64(3, 'UTC'),
    as_of DateTime64(3, 'UTC'),
    rows_checked UInt64,
    checks_run UInt32,
    checks_failed UInt32,
    findings UInt32,
    critical UInt32,
    warning UInt32,
    info UInt32,
    success Bool,
    docs_path String,
    summary String
)
engine = MergeTree
order by (started_at, run_id);

-- One row per check per run: the per-run summary a dashboard or a person reads first.
create table if not exists quality_check_results
(
    run_id String,
    check_name LowCardinality(String),
    suite LowCardinality(String),
    table_name LowCardinality(String),
    severity LowCardinality(String),
    success Bool,
    element_count UInt64,
    unexpected_count UInt64,
    findings_stored UInt32,
    checked_at DateTime64(3, 'UTC')
)
engine = MergeTree
order by (run_id, check_name);

-- Every finding: which check, which unit or event, how bad, the cause and its evidence (JSON),
-- and one sentence in English and in Chinese.
create table if not exists quality_findings
(
    run_id String,
    found_at DateTime64(3, 'UTC'),
    check_name LowCardinality(String),
    suite LowCardinality(String),
    table_name LowCardinality(String),
    severity LowCardinality(String),
    din String,
    product_code String,
    event_id String,
    facility_id LowCardinality(String),
    cause LowCardinality(String),
    evidence String,
    message_en String,
    message_zh String,
    occurred_at Nullable(DateTime64(3, 'UTC'))
)
engine = MergeTree
partition by toYYYYMM(found_at)
order by (run_id, severity, check_name, din);

-- The cause of every checked discard as the evidence tells it (wastage by cause reads this).
-- Re-checking a discard replaces its row.
create table if not exists discard_causes
(
    discard_event_id String,
    din String,
    product_code String,
    facility_id LowCardinality(String),
    discarded_at DateTime64(3, 'UTC'),
    component_type LowCardinality(String),
    volume_ml Int32,
    recorded_cause LowCardinality(String),
    derived_cause LowCardinality(String),
    agrees Bool,
    evidence String,
    run_id String,
    checked_at DateTime64(3, 'UTC')
)
engine = ReplacingMergeTree(checked_at)
order by discard_event_id;
