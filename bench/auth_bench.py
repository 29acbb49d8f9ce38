"""Cost of proof of facility (issue 15): SDK sends with Kafka signatures on against off, and
the stream's per-event check (signature + facility) against validation alone, in one run.

    python -m bench auth

Not measured here (yet): accepted events/s at POST /v1/events with bearer tokens on vs off;
a token is verified with argon2 once per cache period, then a dict lookup per request.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.pipeline_bench import _free_port
from infra.auth import Credential, Role
from infra.broker import ensure_topics, start_embedded_broker
from infra.settings import Settings
from infra.signing import SignatureVerifier, facility_key, headers_for
from models.validation import parse_event
from sdk.producer import Producer
from sdk.settings import SdkSettings
from tests.events_factory import donation


def _sdk_rate(settings: Settings, events: list[dict[str, Any]], signer: Any) -> float:
    sdk = SdkSettings(
        broker_url=settings.bootstrap_servers,
        pseudonym_key="bench",
        topic_prefix=settings.topic_prefix,
        signer=signer[0] if signer else None,
        signing_key=signer[1].hex() if signer else None,
    )
    with Producer(sdk) as producer:
        started = time.perf_counter()
        for event in events:
            producer.send(event)
        producer.flush(120)
        return len(events) / (time.perf_counter() - started)


def run(events: int = 50_000, rounds: int = 3) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bloodtrace-bench-auth-"))
    base = Settings(
        data_dir=work,
        embedded_broker_port=_free_port(),
        embedded_broker_storage="memory",
        pseudonym_key="bench",
    )
    master = b"bench-master-key"
    now = time.time()
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(now, UTC)
    credential = Credential(
        "benchbs01", "facility", "BS01", Role.EMITTER, "BS01", "h", False, stamp, stamp, "b", 1
    )
    key = facility_key(master, credential)
    batch = [donation(i) for i in range(1, events + 1)]
    raws = [orjson.dumps(e) for e in batch]
    signed = [(raw, headers_for(credential.id, key, raw)) for raw in raws]
    verifier = SignatureVerifier(master, lambda: {credential.id: credential}, 5.0)
    broker = start_embedded_broker(base)
    results = []
    try:
        settings = base.model_copy(update={"broker_url": base.bootstrap_servers})
        ensure_topics(settings)
        for round_no in range(rounds):
            off = _sdk_rate(settings, batch, None)
            on = _sdk_rate(settings, batch, (credential.id, key))
            started = time.perf_counter()
            for raw in raws:
                parse_event(raw)
            parse_only = time.perf_counter() - started
            started = time.perf_counter()
            for raw, headers in signed:
                verifier.facility_of(raw, headers)
                parse_event(raw)
            checked = time.perf_counter() - started
            results.append(
                {
                    "sdk_unsigned_events_per_s": round(off),
                    "sdk_signed_events_per_s": round(on),
                    "sdk_ratio": round(on / off, 3),
                    "stream_check_ratio": round(parse_only / checked, 3),
                }
            )
            print(f"round {round_no + 1}: {results[-1]}", flush=True)
    finally:
        broker.stop()
    return {
        "events": events,
        "rounds": results,
        "median_sdk_ratio": statistics.median(r["sdk_ratio"] for r in results),
        "median_stream_check_ratio": statistics.median(r["stream_check_ratio"] for r in results),
    }
