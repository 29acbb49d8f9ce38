-- Rows are stored once by identity, not by source position (streams/sinks/warehouse.py):
-- a rejection's identity is the id its dead-letter record carries, or a hash of the record.
alter table rejected_events add column if not exists rejection_id String default '';
