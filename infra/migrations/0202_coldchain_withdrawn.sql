-- A flag can be withdrawn when a unit's departure, learnt late (movements can lag readings
-- while a backlog is consumed), shows it had left before the excursion began. The flag row is
-- written again with withdrawn = true; ReplacingMergeTree keeps the later one.
alter table coldchain_unit_flags add column if not exists withdrawn Bool default false;
