"""The platform process: broker (embedded or external), warehouse migrations, the Faust worker,
the HTTP API and the scheduled jobs, all in one process because one process owns a chDB path.

uvicorn drives the event loop; Faust starts and stops inside the API's lifespan
(faust.contrib.asgi), so both share one loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from faust.contrib.asgi import faust_app_running

from infra import logmask
from infra.broker import EmbeddedBroker, check_broker, ensure_topics, start_embedded_broker
from infra.errors import BloodtraceError
from infra.settings import Settings
from infra.warehouse import connect, migrate, table_counts, thread_client
from sdk.producer import Outcome, Producer
from streams.app import PlatformContext, create_app

log = logging.getLogger("bloodtrace.platform")

# (name, "module:function", seconds between runs from settings). Each function takes the
# settings and returns a JSON-able summary; a job whose module is absent is skipped, logged.
SCHEDULED_JOBS: list[tuple[str, str, Callable[[Settings], float]]] = [
    ("quality", "expectations.runner:scheduled_quality_run", lambda s: s.quality.schedule_seconds),
    ("dbt", "infra.dbt_runner:scheduled_dbt_build", lambda s: s.dbt.schedule_seconds),
    ("supply", "streams.supply:scheduled_forecast", lambda s: s.supply.schedule_seconds),
    (
        "lookback-reminders",
        "streams.lookback_notices:scheduled_reminders",
        lambda s: s.supply.notice_check_seconds,
    ),
]


def _resolve(target: str) -> Callable[[Settings], Any] | None:
    module_name, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as exc:
        log.warning("scheduled job %s unavailable: %s", target, exc)
        return None


class Platform:
    def __init__(self, settings: Settings) -> None:
        logmask.install()  # no national ID number in any log line, whoever logs it
        self.settings = settings
        self.broker: EmbeddedBroker | None = None
        self.ctx: PlatformContext = create_app(settings)
        self._producer: Producer | None = None
        self._producer_lock = threading.Lock()
        self.jobs_executor = ThreadPoolExecutor(1, thread_name_prefix="jobs")
        self.job_results: dict[str, dict[str, Any]] = {}
        self.started_at = datetime.now(UTC)

    # ---- start-up ------------------------------------------------------------------------
    def prepare(self) -> None:
        """Broker up, topics there, warehouse migrated: everything before the loop starts."""
        if self.settings.embedded_broker:
            self.broker = start_embedded_broker(self.settings)
        check_broker(self.settings)
        ensure_topics(self.settings)
        client = connect(self.settings)
        applied = migrate(client)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))

    def shutdown(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(BloodtraceError):
                self._producer.flush(10)
        self.ctx.stopping.set()
        self.jobs_executor.shutdown(wait=False, cancel_futures=True)
        self.ctx.warehouse_executor.shutdown(wait=True)
        if self.broker is not None:
            self.broker.stop()

    # ---- services used by the API ----------------------------------------------------------
    @property
    def producer(self) -> Producer:
        with self._producer_lock:
            if self._producer is None:
                self._producer = Producer(self.settings.sdk_settings("http"))
            return self._producer

    def ingest(self, events: list[Any]) -> list[Outcome]:
        """Validate and send a batch; returns after the broker confirmed every accepted one."""
        import orjson

        producer = self.producer
        with self._producer_lock:
            outcomes = [
                producer.send(e if isinstance(e, dict) else orjson.dumps(e), i)
                for i, e in enumerate(events)
            ]
            producer.flush(30)
        return outcomes

    def keep_refused_request(self, record: bytes) -> None:
        """Send the dead-letter record of an HTTP request refused whole, and wait for the broker.
        If the broker cannot take it, the refusal is still answered (the input was wrong either
        way); the failure is logged."""
        producer = self.producer
        with self._producer_lock:
            try:
                producer.dead_letter(record)
                producer.flush(30)
            except BloodtraceError as exc:
                log.warning("a refused request could not be kept: %s", exc.message)

    def health(self) -> dict[str, Any]:
        checks: dict[str, dict[str, Any]] = {}
        try:
            brokers = check_broker(self.settings, timeout=2)
            checks["broker"] = {"status": "ok", "brokers": brokers}
            store = self.broker.store if self.broker is not None else None
            if store is not None and not store.healthy():
                checks["broker"] = {
                    "status": "down",
                    "error": f"the broker's storage (S3 at {store.endpoint}) does not answer",
                }
        except BloodtraceError as exc:
            checks["broker"] = {"status": "down", "error": exc.message}
        try:
            thread_client(self.settings).query("select 1")
            checks["warehouse"] = {"status": "ok"}
        except Exception as exc:
            checks["warehouse"] = {"status": "down", "error": str(exc).splitlines()[0][:200]}
        consumer = self.ctx.app.consumer if self.ctx.app.started else None
        assigned = len(consumer.assignment()) if consumer is not None else 0
        checks["worker"] = {
            "status": "ok" if self.ctx.app.started and assigned else "starting",
            "assigned_partitions": assigned,
            "leader": self.is_leader(),  # runs the scheduled jobs
        }
        status = "ok" if all(c["status"] == "ok" for c in checks.values()) else "degraded"
        return {"status": status, "checks": checks, "config": self.settings.describe()}

    def status(self) -> dict[str, Any]:
        self.ctx.update_lag()
        return {
            "health": self.health(),
            "uptime_seconds": round((datetime.now(UTC) - self.started_at).total_seconds(), 1),
            "metrics": self.ctx.metrics.snapshot(),
            "assignment": self.assignment(),
            "tables": table_counts(thread_client(self.settings)),
            "jobs": self.job_results,
        }

    def assignment(self) -> dict[str, list[int]]:
        """Topic -> partitions this worker holds now (several workers share a group)."""
        app = self.ctx.app
        if not app.started or app.consumer is None:
            return {}
        found: dict[str, list[int]] = {}
        for tp in app.consumer.assignment():
            found.setdefault(tp.topic, []).append(tp.partition)
        return {topic: sorted(parts) for topic, parts in sorted(found.items())}

    def run_job(self, name: str) -> dict[str, Any]:
        """Run one scheduled job now, in the jobs thread (blocking the caller's thread)."""
        for job_name, target, _ in SCHEDULED_JOBS:
            if job_name == name:
                fn = _resolve(target)
                if fn is None:
                    return {"job": name, "status": "unavailable"}
                return self.jobs_executor.submit(self._run_job, name, fn).result()
        raise KeyError(name)

    def _run_job(self, name: str, fn: Callable[[Settings], Any]) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            result = {"status": "ok", "result": fn(self.settings)}
        except Exception as exc:  # a failed job is reported, never fatal to the platform
            log.exception("scheduled job %s failed", name)
            result = {"status": "failed", "error": str(exc)[:500]}
        result.update(
            job=name,
            seconds=round(time.perf_counter() - started, 2),
            finished_at=datetime.now(UTC).isoformat(),
        )
        self.job_results[name] = result
        return result

    def is_leader(self) -> bool:
        """Whether this worker runs the scheduled jobs.

        Several workers form one consumer group; Faust's leader assignor gives partition 0 of
        a one-partition topic (``<app_id>-__assignor-__leader``) to exactly one member per
        group generation, so exactly one worker is leader, and when it dies the rebalance
        that hands its partitions on hands on the leadership too. One worker alone is always
        leader once assigned. (A lease row in the warehouse would need an atomic
        compare-and-set ClickHouse does not have; the group coordinator already is one.)
        """
        app = self.ctx.app
        if not app.started or app.consumer is None:
            return False
        try:
            return bool(app.is_leader())
        except Exception:  # not assigned yet
            return False

    async def _schedule_loop(self) -> None:
        next_run: dict[str, float] = {}
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            leader = self.is_leader()
            for name, target, interval_of in SCHEDULED_JOBS:
                interval = (
                    float(interval_of(self.settings)) if _has_section(self.settings, name) else 0
                )
                if interval <= 0:
                    continue
                due = next_run.setdefault(name, now + interval)
                if now >= due and leader:
                    next_run[name] = now + interval
                    fn = _resolve(target)
                    if fn is not None:
                        await loop.run_in_executor(self.jobs_executor, self._run_job, name, fn)
            await asyncio.sleep(5)

    # ---- running ----------------------------------------------------------------------------
    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The Faust worker and the job scheduler, on the caller's event loop (the HTTP
        server's: ``api.server.lifespan`` wraps this)."""
        async with faust_app_running(self.ctx.app, stop_timeout=30):
            scheduler = asyncio.create_task(self._schedule_loop())
            try:
                yield
            finally:
                self.ctx.stopping.set()  # writes waiting out an outage give up now
                scheduler.cancel()


def _has_section(settings: Settings, job: str) -> bool:
    return job != "dbt" or hasattr(settings, "dbt")
