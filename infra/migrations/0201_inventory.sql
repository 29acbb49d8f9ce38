-- Inventory derived from unit events (never typed in): the current state of every component,
-- refolded from the unit's whole history whenever an event about it arrives. The latest fold
-- (highest version) wins; read with `final`.
create table if not exists inventory_units
(
    din String,
    product_code LowCardinality(String),
    component_type LowCardinality(String),
    abo_rh LowCardinality(String),
    facility_id LowCardinality(String),
    status LowCardinality(String),
    expires_at Nullable(DateTime64(3, 'UTC')),
    updated_at DateTime64(3, 'UTC'),
    version UInt64,
    written_at DateTime64(3, 'UTC') default now64(3)
)
engine = ReplacingMergeTree(version)
order by (din, product_code);

-- Units leaving a facility's stock for use: issued to a ward ('issue') or shipped to another
-- facility ('ship'). The demand side of days of supply.
create table if not exists inventory_outflows
(
    event_id String,
    din String,
    product_code LowCardinality(String),
    component_type LowCardinality(String),
    abo_rh LowCardinality(String),
    facility_id LowCardinality(String),
    kind LowCardinality(String),
    occurred_at DateTime64(3, 'UTC'),
    version UInt64,
    written_at DateTime64(3, 'UTC') default now64(3)
)
engine = ReplacingMergeTree(version)
order by (event_id, din, product_code);

-- Days-of-supply levels over time, for the dashboard: a row whenever a level changes
-- ('change') and one per key per day ('daily'). facility_id '*' is the whole city.
create table if not exists inventory_levels
(
    evaluated_at DateTime64(3, 'UTC'),
    kind LowCardinality(String),
    facility_id LowCardinality(String),
    abo_rh LowCardinality(String),
    component_type LowCardinality(String),
    available UInt32,
    mean_daily_issue Float64,
    days_of_supply Nullable(Float64),
    level LowCardinality(String),
    previous_level LowCardinality(String),
    window_days UInt16,
    written_at DateTime64(3, 'UTC') default now64(3)
)
engine = ReplacingMergeTree
order by (facility_id, abo_rh, component_type, kind, evaluated_at);
