"""The Kafka channel: events carry their facility's HMAC signature; the stream refuses events
unsigned, forged, signed by a revoked credential, or for another facility (rejected_events)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from confluent_kafka import Producer as KafkaProducer
from events_factory import donation
from harness import ThreadPlatform, wait_until

from infra.warehouse import thread_client
from sdk.producer import Producer
from sdk.settings import SdkSettings
from sdk.signing import SIGNATURE_HEADER, SIGNER_HEADER, headers_for

pytestmark = pytest.mark.integration


def _emitter(platform: ThreadPlatform, facility: str) -> dict[str, Any]:
    body = {"kind": "facility", "name": facility, "role": "emitter", "facility_id": facility}
    answer = httpx.post(f"{platform.url}/v1/admin/credentials", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _sdk(platform: ThreadPlatform, signer: str | None, key: str | None) -> SdkSettings:
    return SdkSettings(
        broker_url=platform.settings.bootstrap_servers,
        pseudonym_key="test-key",
        topic_prefix=platform.settings.topic_prefix,
        signer=signer,
        signing_key=key,
    )


def _rejections(platform: ThreadPlatform) -> dict[str, int]:
    rows = (
        thread_client(platform.settings)
        .query("select reason, count() from rejected_events group by reason")
        .result_rows
    )
    return {reason: int(n) for reason, n in rows}


def test_only_events_signed_by_their_own_facility_are_stored(platform: ThreadPlatform) -> None:
    bs01 = _emitter(platform, "BS01")
    mine = donation(1)  # facility BS01
    theirs = {**donation(2), "facility_id": "BS02"}
    with Producer(_sdk(platform, bs01["signer"], bs01["signing_key"])) as producer:
        assert producer.send(mine).accepted
        assert producer.send(theirs).accepted  # the SDK cannot know: the stream refuses it
    with Producer(_sdk(platform, None, None)) as unsigned:
        assert unsigned.send(donation(3)).accepted
    forged_value = orjson.dumps(donation(4))
    raw = KafkaProducer({"bootstrap.servers": platform.settings.bootstrap_servers})
    wrong_key = headers_for(bs01["signer"], b"not the key", forged_value)
    raw.produce(platform.settings.topic("events.raw"), value=forged_value, headers=wrong_key)
    unknown = headers_for("nosuchsigner", b"k", forged_value)
    raw.produce(platform.settings.topic("events.raw"), value=forged_value, headers=unknown)
    assert raw.flush(30) == 0

    want = {"facility_not_permitted": 1, "unsigned": 1, "bad_signature": 2}
    got = wait_until(
        lambda: (
            (r := _rejections(platform)) and all(r.get(k, 0) >= n for k, n in want.items()) and r
        ),
        60,
        what="the refused Kafka events in rejected_events",
    )
    assert {k: got[k] for k in want} == want
    platform.wait_accepted(1)
    stored = thread_client(platform.settings).query("select din from events").result_rows
    assert [r[0] for r in stored] == [mine["payload"]["din"][:13]]  # stored without check char
    assert SIGNER_HEADER and SIGNATURE_HEADER  # the header names the SDK documents


def test_a_revoked_or_rotated_emitter_can_no_longer_sign(platform: ThreadPlatform) -> None:
    bs01 = _emitter(platform, "BS01")
    base = f"{platform.url}/v1/admin/credentials/{bs01['id']}"
    rotated = httpx.post(f"{base}/rotate", timeout=30).json()
    assert rotated["signing_key"] != bs01["signing_key"]
    with Producer(_sdk(platform, bs01["signer"], bs01["signing_key"])) as old:
        old.send(donation(1))
    with Producer(_sdk(platform, rotated["signer"], rotated["signing_key"])) as new:
        new.send(donation(2))
    platform.wait_accepted(1)
    wait_until(lambda: _rejections(platform).get("bad_signature", 0) >= 1, 60, what="old key")
    httpx.post(f"{base}/revoke", timeout=30).raise_for_status()  # seen here at once
    with Producer(_sdk(platform, rotated["signer"], rotated["signing_key"])) as revoked:
        revoked.send(donation(3))
    wait_until(lambda: _rejections(platform).get("bad_signature", 0) >= 2, 60, what="revoked")
    assert platform.platform.ctx.metrics.snapshot()["accepted"] == 1


def test_a_file_import_signed_as_a_facility_keeps_only_its_own_rows(
    platform: ThreadPlatform, tmp_path: Any
) -> None:
    import subprocess
    import sys

    from harness import settings_env

    bs01 = _emitter(platform, "BS01")
    export = tmp_path / "export.jsonl"
    rows = [donation(1), {**donation(2), "facility_id": "BS02"}]
    export.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    env = settings_env(platform.settings) | {
        "BLOODTRACE_SIGNER": bs01["signer"],
        "BLOODTRACE_SIGNING_KEY": bs01["signing_key"],
    }
    out = subprocess.run(
        [sys.executable, "-m", "cli", "emit", str(export), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    wait_until(
        lambda: _rejections(platform).get("facility_not_permitted", 0) == 1,
        60,
        what="the other facility's row refused by the stream",
    )
    platform.wait_accepted(1)
    stored = thread_client(platform.settings).query("select facility_id from events").result_rows
    assert stored == [("BS01",)]
