"""The emitter SDK: validate at the edge, pseudonymise identities, send with delivery reports.

    from sdk import Producer
    with Producer.from_settings() as producer:     # SdkSettings from BLOODTRACE_* env / .env
        outcome = producer.send({"type": "donation.collected", "facility_id": "BS01",
                                 "occurred_at": "...", "payload": {...,
                                 "donor_national_id": "110101199001011234"}})
        producer.flush()          # raises DeliveryFailed if the broker did not confirm

confluent-kafka, idempotent, acks=all. Missing envelope fields (event_id, recorded_at,
schema_version) are filled in. ``donor_national_id`` / ``recipient_national_id`` are replaced
by keyed pseudonyms before anything leaves the process. An event that breaks its contract is
not sent to the event topic; it goes to the dead-letter topic with its reason, and the caller
gets the reason back. Nothing is lost silently.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import Producer as KafkaProducer

from models.errors import BrokerUnavailable, DeliveryFailed, EventRejected
from models.events import CURRENT_SCHEMA_VERSION, partition_key
from models.privacy import mask_short, raw_evidence
from models.pseudonym import pseudonymise
from models.validation import parse_event
from sdk.settings import ProvidesSdkSettings, SdkSettings
from sdk.signing import headers_for

KAFKA_LOG = logging.getLogger("bloodtrace.kafka")
# librdkafka retries connections on its own and logs every attempt; what matters reaches the
# caller as BrokerUnavailable or DeliveryFailed. `bloodtrace serve -v` turns these logs on.
KAFKA_LOG.addHandler(logging.NullHandler())
KAFKA_LOG.propagate = False
_IDENTITY_FIELDS = {"donor_national_id": "donor_id", "recipient_national_id": "recipient_id"}


@dataclass(frozen=True)
class Outcome:
    """What became of one event: accepted (sent to the event topic) or rejected with why."""

    index: int
    accepted: bool
    event_id: str | None
    reason: str | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"index": self.index, "accepted": self.accepted}
        data["event_id"] = self.event_id
        if not self.accepted:
            data["reason"], data["detail"] = self.reason, self.detail
        return data


@dataclass
class DeliveryStats:
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def complete_envelope(event: dict[str, Any], key: bytes) -> dict[str, Any]:
    """Fill in defaults and pseudonymise raw identities (pure; returns a new dict)."""
    out = dict(event)
    out.setdefault("event_id", str(uuid.uuid4()))
    out.setdefault("schema_version", CURRENT_SCHEMA_VERSION)
    out.setdefault("recorded_at", datetime.now(UTC).isoformat().replace("+00:00", "Z"))
    payload = out.get("payload")
    if isinstance(payload, dict) and any(k in payload for k in _IDENTITY_FIELDS):
        payload = dict(payload)
        for raw_field, pseudo_field in _IDENTITY_FIELDS.items():
            if raw_field in payload:
                value = payload.pop(raw_field)
                if value is not None:
                    payload[pseudo_field] = pseudonymise(str(value), key)
        out["payload"] = payload
    return out


def redact(raw: bytes) -> bytes:
    """Drop raw identity fields from a refused event before it is stored anywhere."""
    if b"national_id" not in raw:
        return raw
    unreadable = b'{"redacted": "unreadable event that contained a national ID"}'
    if len(raw) > 1 << 20:  # not worth parsing to redact; refused as oversized anyway
        return unreadable
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return unreadable
    payload = obj.get("payload") if isinstance(obj, dict) else None
    if isinstance(payload, dict):
        for raw_field in _IDENTITY_FIELDS:
            if raw_field in payload:
                payload[raw_field] = "[redacted]"
    try:
        return orjson.dumps(obj)
    except orjson.JSONEncodeError:  # nested too deep to write back
        return unreadable


# Kept of a refused input's bytes by default (settings: ingest.dead_letter_raw_bytes).
DEAD_LETTER_RAW_BYTES = 16 * 1024


def dead_letter_record(
    raw: bytes,
    reason: str,
    detail: str,
    source: str,
    event: Any = None,
    *,
    raw_limit: int = DEAD_LETTER_RAW_BYTES,
    raw_size: int | None = None,
    raw_sha256: str | None = None,
    rejection_id: str | None = None,
) -> bytes:
    """The dead-letter message for a refused input: always small (the raw bytes cut to
    ``raw_limit``, with their full size and SHA-256) and free of national ID numbers, so it can
    always be sent and stored, whatever arrived. ``raw_size``/``raw_sha256`` describe the
    whole input when ``raw`` is only its head (an HTTP body not read to the end)."""
    obj = event if isinstance(event, dict) else {}
    evidence = raw_evidence(raw, raw_limit, shown=redact(raw))
    return orjson.dumps(
        {
            "rejection_id": rejection_id or uuid.uuid4().hex,
            "rejected_at": datetime.now(UTC).isoformat(),
            "source": source,
            "reason": reason,
            "detail": mask_short(detail),
            "event_id": mask_short(str(obj.get("event_id", "")), 100),
            "event_type": mask_short(str(obj.get("type", "")), 100),
            "facility_id": mask_short(str(obj.get("facility_id", "")), 100),
            "raw": evidence.text,
            "raw_size": evidence.size if raw_size is None else raw_size,
            "raw_sha256": evidence.sha256 if raw_sha256 is None else raw_sha256,
        }
    )


def produce_waiting(
    kafka: KafkaProducer, topic: str, value: bytes, key: bytes | None, **options: Any
) -> None:
    """Produce one message; while librdkafka's local queue is full (BufferError), let
    deliveries drain and try again. ``options``: produce()'s headers, on_delivery."""
    while True:
        try:
            kafka.produce(topic, value=value, key=key, **options)
            return
        except BufferError:
            kafka.poll(0.05)


def _json_bytes(value: Any) -> tuple[bytes, EventRejected | None]:
    """``value`` as JSON, or why it cannot be (nested too deep for a JSON writer, say)."""
    try:
        return orjson.dumps(value), None
    except orjson.JSONEncodeError as exc:
        reason = "too_deep" if "ecursion" in str(exc) else "invalid_field"
        return b"", EventRejected(reason, f"cannot be written as JSON: {exc}")


class Producer:
    """Validating, pseudonymising, idempotent Kafka producer for Bloodtrace events."""

    def __init__(
        self,
        settings: SdkSettings | ProvidesSdkSettings | None = None,
        *,
        source: str | None = None,
        linger_ms: int = 5,
    ) -> None:
        # The SDK's own settings; the platform's are accepted and narrowed to them (the
        # platform owns its key). Without a key this raises ConfigError: never a made-up key.
        if settings is None:
            settings = SdkSettings.load()
        elif not isinstance(settings, SdkSettings):
            settings = settings.sdk_settings(source or "sdk")
        if source is not None and source != settings.source:
            settings = settings.model_copy(update={"source": source})
        self.settings: SdkSettings = settings
        self.source = settings.source
        self._key = settings.pseudonym_secret()
        self._signing = settings.signing()  # (signer, key) or None: unsigned
        self._events_topic = settings.topic("events.raw")
        self._dead_letter_topic = settings.topic("events.deadletter")
        self.stats = DeliveryStats()
        self._lock = threading.Lock()
        self._kafka = KafkaProducer(
            {
                **settings.kafka.librdkafka(),
                "bootstrap.servers": settings.bootstrap_servers,
                "enable.idempotence": True,
                "logger": KAFKA_LOG,  # librdkafka logs through logging, not raw stderr
                "acks": "all",
                "linger.ms": linger_ms,
                "message.timeout.ms": 30000,
                "queue.buffering.max.messages": 1_000_000,
                "error_cb": self._on_error,
            }
        )

    def ensure_connected(self, timeout: float = 5.0) -> None:
        """Fail fast, with what to do, when no broker answers (instead of timing out later)."""
        try:
            self._kafka.list_topics(timeout=timeout)
        except KafkaException as exc:
            raise BrokerUnavailable(
                f"No Kafka broker answers at {self.settings.bootstrap_servers}.",
                hint="Start the platform (`bloodtrace serve`) for the embedded broker, "
                "or set BLOODTRACE_BROKER_URL to your Kafka cluster.",
            ) from exc

    @classmethod
    def from_settings(
        cls, settings: SdkSettings | ProvidesSdkSettings | None = None, **kwargs: Any
    ) -> Producer:
        """A producer on the given settings, else the SDK's from the environment and .env."""
        return cls(settings, **kwargs)

    def __enter__(self) -> Producer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.flush()

    # ---- callbacks -------------------------------------------------------------------
    def _on_error(self, error: KafkaError) -> None:
        if error.fatal() or error.code() == KafkaError._ALL_BROKERS_DOWN:
            with self._lock:
                self.stats.errors.append(str(error))

    def _on_delivery(self, error: KafkaError | None, _msg: Any) -> None:
        with self._lock:
            if error is None:
                self.stats.delivered += 1
            else:
                self.stats.failed += 1
                self.stats.errors.append(str(error))

    # ---- sending ---------------------------------------------------------------------
    def _produce(self, topic: str, key: bytes | None, value: bytes) -> None:
        headers = None
        if self._signing is not None and topic == self._events_topic:
            headers = headers_for(*self._signing, value)  # proof of facility (sdk/signing)
        try:
            produce_waiting(
                self._kafka, topic, value, key, headers=headers, on_delivery=self._on_delivery
            )
        except KafkaException as exc:
            raise BrokerUnavailable(f"Cannot send to {topic}: {exc}") from exc
        self.stats.sent += 1

    def send(self, event: dict[str, Any] | bytes, index: int = 0) -> Outcome:
        """Validate and send one event; returns its outcome (refused ones go to dead letter)."""
        obj: Any = None
        if isinstance(event, bytes):
            try:
                obj = orjson.loads(event)
            except orjson.JSONDecodeError:
                obj = None
        else:
            obj = event
        if isinstance(obj, dict):
            obj = complete_envelope(obj, self._key)
            raw, unwritable = _json_bytes(obj)
        else:
            raw, unwritable = (event, None) if isinstance(event, bytes) else _json_bytes(event)
        try:
            if unwritable is not None:
                raise unwritable
            parsed = parse_event(raw, rules=self.settings.ingest)
        except EventRejected as exc:
            record = dead_letter_record(
                raw,
                exc.reason,
                exc.detail,
                self.source,
                obj,
                raw_limit=self.settings.ingest.dead_letter_raw_bytes,
            )
            self._produce(self._dead_letter_topic, None, record)
            event_id = mask_short(str(obj.get("event_id")), 100) if isinstance(obj, dict) else None
            return Outcome(index, False, event_id, exc.reason, exc.detail)
        self._produce(self._events_topic, partition_key(parsed).encode(), raw)
        self._kafka.poll(0)
        return Outcome(index, True, str(parsed.event_id))

    def dead_letter(self, record: bytes) -> None:
        """Send a ready dead-letter record (see ``dead_letter_record``), e.g. for a request
        refused whole before any event in it was read."""
        self._produce(self._dead_letter_topic, None, record)

    def send_many(self, events: Iterable[dict[str, Any] | bytes]) -> Iterator[Outcome]:
        for index, event in enumerate(events):
            yield self.send(event, index)

    def send_raw(self, value: bytes, key: bytes | None = None) -> None:
        """Send bytes to the event topic unvalidated (for tests of the stream's own checks)."""
        self._produce(self._events_topic, key, value)

    def flush(self, timeout: float = 60.0) -> DeliveryStats:
        """Wait for every delivery report; raise DeliveryFailed if any event was not confirmed."""
        remaining = self._kafka.flush(timeout)
        if remaining or self.stats.failed:
            raise DeliveryFailed(
                f"{self.stats.failed + remaining} event(s) not confirmed by the broker at "
                f"{self.settings.bootstrap_servers}"
                + (f": {self.stats.errors[-1]}" if self.stats.errors else ""),
                hint="Nothing was acknowledged for them: send them again (event ids make "
                "a resend harmless).",
                failed=self.stats.failed,
                pending=remaining,
            )
        return self.stats
