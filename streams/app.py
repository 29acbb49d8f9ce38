"""The Faust app: validate every raw event, write it to the warehouse, pass it on.

Work is done per batch (``take_events``), never per event: Faust itself tops out near 8k
events/s per worker here. A batch is acknowledged only after the warehouse write and the
forwarding flush, so a crash anywhere re-reads it; the sink's idempotence makes that harmless.

Processors of later concerns (lifecycle, cold chain, ...) live in streams/processors/, each a
module with ``stage(ctx: PlatformContext) -> Stage``; list them in PROCESSORS. One agent runs
every stage on each batch of events.valid (``register_stages``).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Generic, TypeVar, cast

import faust
import orjson
from confluent_kafka import Producer as KafkaProducer
from faust.transport.consumer import Consumer

from infra.errors import BloodtraceError, DeliveryFailed, EventRejected
from infra.settings import Settings
from infra.warehouse import thread_client
from models.alerts import ALERT_COLUMNS, Alert, alert_row
from models.events import partition_key
from models.privacy import mask_short
from models.validation import parse_event
from sdk.producer import dead_letter_record, produce_waiting
from sdk.signing import SignatureVerifier
from streams import consumer_guard
from streams.batching import run_pipelined, run_serial
from streams.metrics import Metrics
from streams.sinks.warehouse import Rejected, Sourced, WarehouseSink

log = logging.getLogger("bloodtrace.streams")
from sdk.producer import KAFKA_LOG  # noqa: E402  (one logger, configured there)

T = TypeVar("T")
P = TypeVar("P")

# Each module's ``stage(ctx)`` declares its tables, timers and agents of its own and returns
# its Stage; the stages run in this order on each batch of events.valid, in one agent.
PROCESSORS: list[str] = [
    "streams.processors.coldchain",
    "streams.processors.inventory",
    "streams.processors.lifecycle",
]


@dataclass
class Stage(Generic[P]):
    """One processor's part of a batch of ``events.valid`` (and the topics it adds): run by
    the one agent that reads those topics, so each event is consumed and decoded once for all
    the processors, not once per processor.

    ``prepare(events, records)`` runs on the event loop (``records[i]`` is event i decoded, or
    None); ``write`` in the warehouse thread; ``complete`` on the loop once every stage's
    write of the batch succeeded (tables are updated there); ``reset`` after a failed batch."""

    name: str
    prepare: Callable[[list[Any], list[Any]], P]
    write: Callable[[P], Any]
    complete: Callable[[P], None] = lambda prepared: None
    reset: Callable[[], None] = lambda: None
    # Topics the stage also reads (its own, internal, keyed like events.valid).
    topics: tuple[str, ...] = ()


def decode_records(events: Sequence[Any]) -> list[Any]:
    """Each event's JSON, decoded once for every stage (None where it is not JSON)."""
    out: list[Any] = []
    for event in events:
        try:
            out.append(orjson.loads(event.value))
        except (orjson.JSONDecodeError, TypeError):
            out.append(None)
    return out


@dataclass
class PlatformContext:
    """What every processor gets: settings, the app, metrics and the warehouse thread."""

    settings: Settings
    app: faust.App
    metrics: Metrics
    # One thread owns warehouse writes: chDB calls block, so they stay off the event loop,
    # and one writer keeps each sink's blocks in offset order.
    warehouse_executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="warehouse")
    )
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    # Set when the platform stops: writes waiting out an outage give up (nothing is acked).
    stopping: threading.Event = field(default_factory=threading.Event)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The Kafka signature check (auth on): the admin API drops its cache on a change.
    verifier: SignatureVerifier | None = None
    _forwarder: KafkaProducer | None = None

    async def in_warehouse(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn in the warehouse thread, retried while the warehouse or broker is down."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.warehouse_executor, self.retrying, fn, *args)

    def retrying(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(*args), retried with back-off on transient errors until it succeeds or the
        platform stops; each retry is counted in /metrics (bloodtrace_write_retries)."""
        return retrying(
            partial(fn, *args),
            max_delay=5.0,  # a warehouse back after an outage is used within seconds
            stopping=self.stopping.is_set,
            on_retry=self._retried,
        )

    def _retried(self, error: BloodtraceError) -> None:
        self.metrics.retries.labels(type(error).__name__).inc()

    async def run_batches(
        self,
        stream: Any,
        prepare: Callable[[list[Any]], P],
        write: Callable[[P], Any],
        complete: Callable[[P], None] | None = None,
        reset: Callable[[], None] | None = None,
    ) -> None:
        """Consume an agent's stream with the one batching primitive (streams.batching):
        written in the warehouse thread, then tracked for lag and acknowledged."""

        def done(events: list[Any], prepared: P) -> None:
            if complete is not None:
                complete(prepared)
            self.track(events)

        await run_pipelined(
            stream,
            executor=self.warehouse_executor,
            batch_size=self.settings.sink_batch_size,
            batch_seconds=self.settings.sink_batch_seconds,
            prepare=prepare,
            # An outage is waited out here, batch held and unacknowledged, not crashed on.
            write=partial(self.retrying, write),
            complete=done,
            reset=reset or (lambda: None),
        )

    async def run_serially(
        self, stream: Any, handle: Callable[[list[Any]], Awaitable[None]]
    ) -> None:
        """Consume an agent's stream a batch at a time, each handled in the loop body
        (``handle``), tracked for lag and acknowledged only once handled (a batch whose
        handling raised is read again after the restart, never skipped)."""

        async def handled(events: list[Any]) -> None:
            await handle(events)
            self.track(events)

        await run_serial(
            stream,
            batch_size=self.settings.sink_batch_size,
            batch_seconds=self.settings.sink_batch_seconds,
            handle=handled,
        )

    async def run_stages(self, stream: Any, stages: Sequence[Stage[Any]]) -> None:
        """Run processors' stages over one stream, a batch at a time (``run_batches``): every
        stage prepares the batch, every stage writes it, then every stage completes it; the
        batch is acknowledged only after all of them."""

        def prepare(events: list[Any]) -> list[Any]:
            records = decode_records(events)
            return [s.prepare(events, records) for s in stages]

        def write(prepared: list[Any]) -> None:
            for s, p in zip(stages, prepared, strict=True):
                s.write(p)

        def complete(prepared: list[Any]) -> None:
            for s, p in zip(stages, prepared, strict=True):
                s.complete(p)

        def reset() -> None:
            for s in stages:
                s.reset()

        await self.run_batches(stream, prepare, write, complete, reset)

    def sink(self, topic: str) -> WarehouseSink:
        """A warehouse sink bound to the warehouse thread's client (call in that thread)."""
        return WarehouseSink(thread_client(self.settings), topic)

    @property
    def forwarder(self) -> KafkaProducer:
        """A librdkafka producer for forwarding: far faster than producing through Faust."""
        if self._forwarder is None:
            self._forwarder = KafkaProducer(
                {
                    **self.settings.kafka.librdkafka(),
                    "bootstrap.servers": self.settings.bootstrap_servers,
                    "enable.idempotence": True,
                    "logger": KAFKA_LOG,  # librdkafka logs through logging, not raw stderr
                    "acks": "all",
                    "linger.ms": 2,
                    "queue.buffering.max.messages": 1_000_000,
                }
            )
        return self._forwarder

    def forward(self, topic: str, items: Sequence[tuple[bytes | None, bytes]]) -> None:
        """Produce and wait for every delivery (call in a worker thread)."""
        failures: list[str] = []

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                failures.append(str(err))

        producer = self.forwarder
        for key, value in items:
            produce_waiting(producer, topic, value, key, on_delivery=on_delivery)
        remaining = producer.flush(30)
        if remaining or failures:
            raise DeliveryFailed(
                f"{remaining + len(failures)} message(s) to {topic} not confirmed",
                hint="The batch is not acknowledged and will be processed again.",
            )

    def raise_alerts(self, alerts: Sequence[Alert]) -> None:
        """Send alerts to the alerts topic (call in a worker thread, e.g. via in_warehouse);
        the platform stores each in the alerts table."""
        if alerts:
            topic = self.settings.topic("alerts")
            self.forward(topic, [(a.subject.encode(), a.to_record()) for a in alerts])

    def track(self, events: Sequence[Any]) -> None:
        """Remember the last offset processed per partition, for consumer lag."""
        for event in events:
            message = event.message
            self.positions[(message.topic, message.partition)] = message.offset

    def update_lag(self) -> None:
        # The concrete consumer: its committed offsets are not part of ConsumerT.
        consumer = cast(Consumer, self.app.consumer)
        # Table changelogs are assigned for recovery only and never committed: not lag.
        changelogs = self.app.tables.changelog_topics
        for tp in consumer.assignment():
            if tp.topic in changelogs:
                continue
            try:
                high = consumer.highwater(tp)
            except Exception:  # not fetched yet
                continue
            if high is None:
                continue
            done = self.positions.get((tp.topic, tp.partition), -1) + 1
            committed = consumer._committed_offset.get(tp) or 0
            lag = max(0, high - max(done, committed))
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)


def faust_app(settings: Settings, app_id: str, datadir: str, **overrides: Any) -> faust.App:
    """A Faust app configured as the platform's (the benchmarks build theirs here too)."""
    options: dict[str, Any] = {
        "broker": f"kafka://{settings.bootstrap_servers}",
        "broker_credentials": settings.kafka.faust_credentials(),  # SASL/TLS (sdk/transport)
        "value_serializer": "raw",
        "key_serializer": "raw",
        "store": "memory://",
        "web_enabled": False,
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": settings.topic_replication_factor,
        "broker_rebalance_timeout": settings.broker_rebalance_timeout,
        "broker_session_timeout": settings.broker_session_timeout,
        "broker_heartbeat_interval": settings.broker_heartbeat_interval,
        "broker_max_poll_records": settings.sink_batch_size,
        "consumer_auto_offset_reset": "earliest",
        "stream_wait_empty": False,
        "producer_acks": -1,
        "datadir": str(settings.data_path / datadir),
    }
    return faust.App(app_id, **(options | overrides))


def create_app(settings: Settings, metrics: Metrics | None = None) -> PlatformContext:
    consumer_guard.install()
    app = faust_app(settings, settings.app_id, "faust")
    ctx = PlatformContext(settings=settings, app=app, metrics=metrics or Metrics())
    _register_ingest(ctx)
    register_stages(ctx, [importlib.import_module(name).stage(ctx) for name in PROCESSORS])
    return ctx


def register_stages(ctx: PlatformContext, stages: Sequence[Stage[Any]]) -> None:
    """One agent reads events.valid (and the stages' own topics) for every processor: Faust
    spends more per event and per stream than the processors do, so three agents each
    consuming every event cost three times that."""
    settings, app = ctx.settings, ctx.app
    extra = sorted({topic for s in stages for topic in s.topics})
    # Declared internal so Faust creates the stages' own topics (events.valid exists).
    source = app.topic(
        settings.topic("events.valid"),
        *extra,
        value_type=bytes,
        key_type=bytes,
        internal=True,
        partitions=settings.topic_partitions,
    )

    @app.agent(source, name="processors")
    async def processors(stream: faust.StreamT[bytes]) -> None:
        await ctx.run_stages(stream, stages)


def _register_ingest(ctx: PlatformContext) -> None:
    settings, app, metrics = ctx.settings, ctx.app, ctx.metrics
    raw_topic = app.topic(settings.topic("events.raw"), value_type=bytes, key_type=bytes)
    dead_letter_topic = app.topic(
        settings.topic("events.deadletter"), value_type=bytes, key_type=bytes
    )
    valid_topic_name = settings.topic("events.valid")
    dead_letter_name = settings.topic("events.deadletter")
    sinks: dict[str, WarehouseSink] = {}

    def sink_for(topic: str) -> WarehouseSink:
        if topic not in sinks:
            sinks[topic] = ctx.sink(topic)
        return sinks[topic]

    def write_valid(good: list[Sourced], refused: list[bytes]) -> int:
        # Refused first: once the batch is acknowledged, each must already be kept somewhere.
        if refused:
            ctx.forward(dead_letter_name, [(None, record) for record in refused])
        split = sink_for("events.raw").write_events(good)
        metrics.duplicates.inc(len(split.resent))
        # A message stored before a crash cut its batch short is forwarded again: its
        # forwarding may not have happened (processors fold replays harmlessly).
        onward = split.new + split.redelivered
        if onward:
            ctx.forward(
                valid_topic_name,
                [(partition_key(item.event).encode(), item.raw) for item in onward],
            )
        return len(split.new)

    verifier = ctx.verifier = signature_verifier(settings)

    def process_batch(records: list[tuple[bytes, int, int, Any]]) -> int:
        """Validate, store and forward one batch; runs in the warehouse thread."""
        now = datetime.now(UTC)
        good: list[Sourced] = []
        refused: list[bytes] = []
        for raw, partition, offset, headers in records:
            try:
                # Proof of facility first (auth on): who signed, then is it theirs to send.
                facility = verifier.facility_of(raw, headers) if verifier else None
                parsed = parse_event(raw, rules=settings.ingest, now=now)
                if facility is not None and parsed.facility_id != facility:
                    raise EventRejected(
                        "facility_not_permitted",
                        f"facility {parsed.facility_id!r} signed by an emitter of {facility!r}",
                    )
            except EventRejected as exc:
                metrics.rejected.labels(exc.reason).inc()
                refused.append(
                    dead_letter_record(
                        raw,
                        exc.reason,
                        exc.detail,
                        "stream",
                        _loose(raw),
                        raw_limit=settings.ingest.dead_letter_raw_bytes,
                        rejection_id=stream_rejection_id(raw, partition, offset),
                    )
                )
                continue
            good.append(Sourced(parsed, raw, partition, offset))
        started = time.perf_counter()
        written = ctx.retrying(write_valid, good, refused)
        metrics.accepted.inc(written)
        metrics.sink_batch_size.observe(len(records))
        metrics.sink_batch_seconds.observe(time.perf_counter() - started)
        publish_sink_stats()
        return written

    def publish_sink_stats() -> None:
        written: dict[str, int] = defaultdict(int)
        skipped: dict[str, int] = defaultdict(int)
        for sink in list(sinks.values()):
            for table, count in sink.stats.rows_written.items():
                written[table] += count
            for reason, count in sink.stats.skipped.items():
                skipped[reason] += count
        for table, count in written.items():
            metrics.rows_written.labels(table)._value.set(count)
        for reason, count in skipped.items():
            metrics.skipped.labels(reason)._value.set(count)

    def records_of(events: list[Any]) -> list[tuple[bytes, int, int, Any]]:
        return [
            (_raw(e.value), e.message.partition, e.message.offset, e.message.headers)
            for e in events
        ]

    @app.agent(raw_topic, name="validate-and-store")
    async def validate_and_store(stream: faust.StreamT[bytes]) -> None:
        # Each batch is processed in the warehouse thread while this loop gathers the next
        # one; it is acknowledged only once processed, so a crash at any point re-reads it.
        await ctx.run_batches(stream, records_of, process_batch)

    def write_rejected(items: list[Rejected]) -> int:
        sink = sink_for("events.deadletter")
        written = sink.write_rejected(items, settings.ingest.dead_letter_raw_bytes)
        publish_sink_stats()
        return written

    async def store_rejected_batch(events: list[Any]) -> None:
        items = [_rejected_from_record(event) for event in events]
        await ctx.in_warehouse(write_rejected, items)
        for item in items:
            if item.source != "stream":  # the stream's own refusals are counted above
                metrics.rejected.labels(item.reason).inc()

    @app.agent(dead_letter_topic, name="store-rejected")
    async def store_rejected(stream: faust.StreamT[bytes]) -> None:
        await ctx.run_serially(stream, store_rejected_batch)

    alerts_topic = app.topic(settings.topic("alerts"), value_type=bytes, key_type=bytes)

    def write_alerts(rows: list[tuple[Any, ...]]) -> int:
        written = sink_for("alerts").write_tables({"alerts": (list(ALERT_COLUMNS), rows)})
        publish_sink_stats()
        return written

    async def store_alerts_batch(events: list[Any]) -> None:
        rows = []
        for event in events:
            try:
                rows.append(alert_row(event.value, event.message.partition, event.message.offset))
            except Exception as exc:  # a malformed alert must not stop the stream
                log.error("unreadable alert record skipped: %s", exc)
        await ctx.in_warehouse(write_alerts, rows)

    @app.agent(alerts_topic, name="store-alerts")
    async def store_alerts(stream: faust.StreamT[bytes]) -> None:
        await ctx.run_serially(stream, store_alerts_batch)

    @app.timer(interval=2.0)
    async def refresh_lag() -> None:
        ctx.update_lag()


def signature_verifier(settings: Settings) -> SignatureVerifier | None:
    """The stream's check of Kafka signatures (None with auth off)."""
    if not settings.auth.enabled:
        return None
    from infra.auth import CredentialStore

    return SignatureVerifier(
        settings.signing_master(),
        lambda: CredentialStore(thread_client(settings)).all(),
        settings.auth.cache_seconds,
    )


def _loose(raw: bytes, limit: int = 1 << 20) -> Any:
    """The JSON in ``raw`` if there is any (for the ids a rejection record names), else None.
    Past ``limit`` bytes it is not parsed at all: a poison message may be any size."""
    if len(raw) > limit:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # also what orjson raises past its nesting limit
        return None


def _rejected_from_record(event: Any) -> Rejected:
    raw = event.value if isinstance(event.value, bytes) else bytes(event.value or b"")
    message = event.message
    record = _loose(raw)
    if not isinstance(record, dict) or "reason" not in record:
        return Rejected(
            "malformed_dead_letter",
            "a message on the dead-letter topic is not a Bloodtrace rejection record",
            raw,
            "deadletter",
            message.partition,
            message.offset,
        )
    try:
        rejected_at = datetime.fromisoformat(str(record.get("rejected_at")))
        if rejected_at.tzinfo is None:
            rejected_at = rejected_at.replace(tzinfo=UTC)
    except ValueError:
        rejected_at = datetime.now(UTC)
    if not 2000 <= rejected_at.year < 2200:  # a column the warehouse can hold, whoever wrote it
        rejected_at = datetime.now(UTC)
    return Rejected(
        reason=mask_short(str(record["reason"]), 100),  # also a metrics label
        detail=str(record.get("detail", "")),
        raw=str(record.get("raw", "")).encode(),
        source=str(record.get("source", "")),
        partition=message.partition,
        offset=message.offset,
        event_id=str(record.get("event_id", "")),
        event_type=str(record.get("event_type", "")),
        facility_id=str(record.get("facility_id", "")),
        rejected_at=rejected_at,
        rejection_id=mask_short(str(record.get("rejection_id", "")), 64),
        raw_size=_size(record.get("raw_size")),
        raw_sha256=str(record.get("raw_sha256") or "")[:64],
    )


def _size(value: Any) -> int | None:
    """A record's raw_size, if it carries a plausible one (older records do not)."""
    return value if type(value) is int and 0 <= value < 1 << 63 else None


def stream_rejection_id(raw: bytes, partition: int, offset: int) -> str:
    """The same raw message refused again (a batch re-read after a crash) is one rejection."""
    digest = hashlib.sha256(f"raw:{partition}:{offset}:".encode() + raw)
    return digest.hexdigest()[:32]


def _raw(value: Any) -> bytes:
    return value if isinstance(value, bytes) else bytes(value or b"")


def retrying(
    write: Callable[[], T],
    *,
    attempts: int = 0,
    first_delay: float = 0.5,
    max_delay: float = 30.0,
    stopping: Callable[[], bool] | None = None,
    on_retry: Callable[[BloodtraceError], None] | None = None,
) -> T:
    """Run a write until it succeeds, backing off on transient errors (broker or warehouse
    down; the warehouse layer marks which are); a terminal error is raised at once.

    ``attempts`` 0 means no limit: an outage is waited out, however long, and nothing read is
    acknowledged meanwhile. ``stopping`` ends the wait (the last error is raised) so a platform
    shutting down does not hang on a dead warehouse.
    """
    delay = first_delay
    tried = 0
    while True:
        try:
            return write()
        except BloodtraceError as exc:
            tried += 1
            if not exc.transient or (attempts and tried >= attempts):
                raise
            if stopping is not None and stopping():
                raise
            if on_retry is not None:
                on_retry(exc)
            log.warning("transient error, retry %d in %.1f s: %s", tried, delay, exc.message)
            deadline = time.monotonic() + delay
            while time.monotonic() < deadline:
                if stopping is not None and stopping():
                    raise
                time.sleep(min(0.1, delay))
            delay = min(delay * 2, max_delay)
