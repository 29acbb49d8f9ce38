-- A refused input is kept cut to a limit (settings: ingest.dead_letter_raw_bytes), so its size
-- and SHA-256 as it arrived are kept beside it: enough to tell which message it was.
alter table rejected_events
    add column if not exists raw_size UInt64 default length(raw),
    add column if not exists raw_sha256 String default '';
