#!/usr/bin/env bash
# Bloodtrace's topics on a Kafka cluster (KRaft, 3 brokers). UNTESTED HERE (no Kafka on these
# machines). Idempotent: creates what is missing, raises partition counts that are below the
# wanted count (never lowers them: Kafka cannot). Reads bloodtrace.env.
#
# Partitions: every stream topic has BLOODTRACE_TOPIC_PARTITIONS partitions (the same count
# everywhere: Faust tables are co-partitioned with the topics that feed them, keyed by unit).
# Replication factor 3, min.insync.replicas 2: a write survives the loss of one broker, and
# producers use acks=all with idempotence.
set -euo pipefail
BOOT=${KAFKA_BOOTSTRAP:-kafka1:9092,kafka2:9092,kafka3:9092}
P=${BLOODTRACE_TOPIC_PARTITIONS:-24}
PREFIX=${BLOODTRACE_TOPIC_PREFIX:-bloodtrace}
APP=${BLOODTRACE_APP_ID:-bloodtrace}
KT=${KAFKA_TOPICS:-/opt/kafka/bin/kafka-topics.sh}
DAY=86400000

# name partitions config...
topic() {
  local name=$1 parts=$2; shift 2
  local configs=(--config min.insync.replicas=2)
  for c in "$@"; do configs+=(--config "$c"); done
  if "$KT" --bootstrap-server "$BOOT" --describe --topic "$name" >/dev/null 2>&1; then
    local have
    have=$("$KT" --bootstrap-server "$BOOT" --describe --topic "$name" | grep -o 'PartitionCount: *[0-9]*' | grep -o '[0-9]*$')
    if [ "$have" -lt "$parts" ]; then
      echo "growing $name from $have to $parts partitions"
      "$KT" --bootstrap-server "$BOOT" --alter --topic "$name" --partitions "$parts"
    fi
  else
    echo "creating $name ($parts partitions)"
    "$KT" --bootstrap-server "$BOOT" --create --topic "$name" --partitions "$parts" \
      --replication-factor 3 "${configs[@]}"
  fi
}

# Event streams: kept 30 days (the warehouse holds events for good; the topics only need to
# cover a replay after an outage, a backfill, or a new processor catching up).
topic "$PREFIX.events.raw"        "$P" retention.ms=$((30 * DAY))
topic "$PREFIX.events.valid"      "$P" retention.ms=$((30 * DAY))
topic "$PREFIX.lifecycle.donors"  "$P" retention.ms=$((30 * DAY))
topic "$PREFIX.coldchain.contents" "$P" retention.ms=$((30 * DAY))
# Refused events, alerts and recall notices: a year (they are also in the warehouse).
topic "$PREFIX.events.deadletter" "$P" retention.ms=$((365 * DAY))
topic "$PREFIX.alerts"            "$P" retention.ms=$((365 * DAY))
topic "$PREFIX.recalls"           "$P" retention.ms=$((365 * DAY))
# Faust table changelogs: compacted, kept for ever (they are the tables' state).
for table in lifecycle-units lifecycle-donors coldchain-units coldchain-monitors coldchain-contents; do
  topic "$APP-$table-changelog" "$P" cleanup.policy=compact retention.ms=-1
done
# Faust's leader election (scheduled jobs run on the leader only): one partition.
topic "$APP-__assignor-__leader" 1 retention.ms=$((1 * DAY))
