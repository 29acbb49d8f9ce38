"""Per-credential rate limits: a token bucket per credential (api/auth.py)."""

from __future__ import annotations

import time

from api.auth import TokenBuckets


def test_a_burst_is_allowed_then_refused_until_tokens_refill() -> None:
    buckets = TokenBuckets()
    assert all(buckets.take("facility-a", rate=1000.0, burst=5) for _ in range(5))
    assert not buckets.take("facility-a", rate=1000.0, burst=5)
    assert buckets.take("facility-b", rate=1000.0, burst=5)  # each credential its own
    deadline = time.monotonic() + 1
    while not buckets.take("facility-a", rate=1000.0, burst=5):  # refills at 1000/s
        assert time.monotonic() < deadline
