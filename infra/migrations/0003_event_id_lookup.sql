-- Resent events are recognised by event_id; the events table is ordered by unit, so keep a
-- projection ordered by event_id to make that lookup a primary-key read.
alter table events add projection if not exists by_event_id
(
    select event_id, src_partition, src_offset order by event_id
);
alter table events materialize projection by_event_id;
