"""Property-based fuzzing of the HTTP API from its own OpenAPI description (schemathesis).

A platform of its own on 127.0.0.1 (nothing leaves the machine: the schema is read from the
platform's /openapi.json). For each operation and each caller (no credential, emitter, viewer,
quality officer, administrator) hypothesis generates a bounded number of requests; every
answer must be no server error (5xx) and conform to the spec (documented status code, content
type and response schema), and a caller the operation's access rule refuses must get 401/403,
never an answer. The request count is printed in the session's closing summary.

Bounds: FUZZ_EXAMPLES requests per operation and caller, and FUZZ_SECONDS for the whole run
(the remaining operations are then fuzzed with one example each): the suite stays within
CI's limit. POSTs that would start real work (jobs, dbt, quality runs, inventory rebuilds) are
fuzzed only as callers they refuse: a permitted call would run dbt for minutes.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from harness import (
    ADMIN_TOKEN,
    FUZZ_REQUESTS,
    SIGNING_KEY,
    platform_settings,
    role_tokens,
    thread_platform,
)

from api.auth import rule_for

pytestmark = [
    pytest.mark.integration,
    # schemathesis 4.32's own strategies use `random` (hypothesis warns; not this test's code).
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

FUZZ_EXAMPLES = 6
FUZZ_SECONDS = 75.0
CALLERS = ("anonymous", "emitter", "viewer", "quality_officer", "administrator")
WORK = re.compile(r"^/v1/(jobs|dbt|quality/runs|inventory/rebuild)")


@pytest.fixture(scope="module")
def fuzz_platform(
    tmp_path_factory: pytest.TempPathFactory, broker: str, warehouse_dsn: str
) -> Iterator[Any]:
    settings = platform_settings(
        tmp_path_factory.mktemp("fuzz"),
        broker,
        warehouse_url=warehouse_dsn,
        warehouse_database=f"fuzz_{uuid.uuid4().hex[:8]}",
        # The rate limit is the one thing raised: the fuzz sends far more than 50 requests a
        # second per credential, and answers of 429 would hide every endpoint behind them.
        auth={
            "bootstrap_admin_token": ADMIN_TOKEN,
            "token": ADMIN_TOKEN,
            "signing_key": SIGNING_KEY,
            "rate_per_second": 1_000_000,
            "rate_burst": 1_000_000,
        },
    )
    with thread_platform(settings) as handle:
        yield handle


def _tokens(url: str) -> dict[str, str | None]:
    return role_tokens(url, "fuzz")


def _permitted(method: str, path: str, caller: str) -> bool:
    rule = rule_for(method, path)
    assert rule is not None, f"{method} {path} has no access rule"  # the matrix test's job too
    if rule.public or rule.local_ops:  # ops: open on the local interface, where this runs
        return True
    return caller != "anonymous" and caller in {r.value for r in rule.roles}


def _unrouted(response: Any) -> bool:
    """A generated path value (a '/', '..') that no longer matches the operation's route:
    Starlette's own 404/405, before any access rule, answering nothing."""
    if response.status_code not in (404, 405):
        return False
    try:
        return response.json() in ({"detail": "Not Found"}, {"detail": "Method Not Allowed"})
    except ValueError:
        return False


def _fuzz(
    operation: Any, caller: str, token: str | None, examples: int, ctx: dict[str, Any]
) -> None:
    """``examples`` generated requests to one operation as one caller, each checked."""
    from hypothesis import HealthCheck, Phase, given, settings

    method, path = operation.method.upper(), operation.path
    permitted = _permitted(method, path, caller)
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,  # nothing written under the work tree
        derandomize=True,  # the same requests every run: a failure reproduces
        phases=[Phase.explicit, Phase.generate],  # no shrinking: bounded in time
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def fuzz(case: Any) -> None:
        response = case.call(base_url=ctx["url"], headers=headers, timeout=60)
        ctx["sent"][caller] += 1
        case.validate_response(response, checks=ctx["checks"], headers=headers)
        if not permitted and not _unrouted(response):
            assert response.status_code in (401, 403), (
                f"{caller} was answered {response.status_code} by {method} {path}, "
                "which its access rule refuses"
            )
        if token:
            assert token not in response.text  # a credential is never echoed

    try:
        fuzz()
    except (
        Exception,
        BaseExceptionGroup,
    ) as exc:  # every operation is fuzzed; the failures are listed at the end
        ctx["failures"].append(f"{caller} {method} {path}: {str(exc)[:1500]}")


def test_fuzz_every_operation_as_every_caller(fuzz_platform: Any) -> None:
    import schemathesis
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    url = fuzz_platform.url
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", timeout=30)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40
    tokens = _tokens(url)
    sent: Counter[str] = Counter()
    ctx = {
        "url": url,
        "sent": sent,
        "failures": [],
        "checks": [
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    }
    started = time.monotonic()
    for operation in operations:
        method, path = operation.method.upper(), operation.path
        for caller in CALLERS:
            if _permitted(method, path, caller) and method == "POST" and WORK.match(path):
                continue
            in_time = time.monotonic() - started < FUZZ_SECONDS
            _fuzz(operation, caller, tokens[caller], FUZZ_EXAMPLES if in_time else 1, ctx)

    total = sum(sent.values())
    FUZZ_REQUESTS.update(sent)
    print(
        f"fuzz: {total} requests, {len(operations)} operations, {time.monotonic() - started:.0f} s"
    )
    failures = ctx["failures"]
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(failures)
    assert total >= len(operations) * 3
    # The administrator still works after all that fuzzing of /v1/admin/*.
    assert httpx.get(f"{url}/v1/whoami", timeout=30).status_code == 200
