-- Lineage for traceability (streams/trace.py): who is linked to which unit, ordered by the
-- person, so "every donation of this donor" and "every unit this recipient received" are one
-- primary-key range read instead of a scan of `events`.
-- One row per link: a donor to a donation, a recipient to a unit issued or transfused to them.
-- Filled by materialized views on the typed tables, whatever wrote them (the stream sink,
-- load_direct, a benchmark's INSERT ... SELECT). ReplacingMergeTree + reads with `distinct`
-- make a link written twice harmless.
create table if not exists unit_lineage
(
    person_id String,
    role LowCardinality(String),
    din String,
    product_code LowCardinality(String),
    occurred_at DateTime64(3, 'UTC'),
    facility_id LowCardinality(String),
    event_id UUID
)
engine = ReplacingMergeTree
order by (person_id, din, role, product_code, event_id)
settings index_granularity = 1024;

create materialized view if not exists unit_lineage_donations to unit_lineage as
select donor_id as person_id, 'donor' as role, din, '' as product_code, occurred_at,
       facility_id, event_id
from donations;

create materialized view if not exists unit_lineage_transfusions to unit_lineage as
select recipient_id as person_id, 'transfused' as role, din, product_code, occurred_at,
       facility_id, event_id
from transfusions;

create materialized view if not exists unit_lineage_issues to unit_lineage as
select recipient_id as person_id, 'issued' as role, din, product_code, occurred_at,
       facility_id, event_id
from unit_issues
where recipient_id != '';

-- Backfill what was there before this migration.
insert into unit_lineage
select donor_id, 'donor', din, '', occurred_at, facility_id, event_id from donations;

insert into unit_lineage
select recipient_id, 'transfused', din, product_code, occurred_at, facility_id, event_id
from transfusions;

insert into unit_lineage
select recipient_id, 'issued', din, product_code, occurred_at, facility_id, event_id
from unit_issues
where recipient_id != '';
