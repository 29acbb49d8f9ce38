"""The platform process: one composition root wiring the broker, the warehouse, the stream
worker (``streams.platform.Platform``), the scheduled jobs and the HTTP API into one uvicorn
server. ``bloodtrace serve`` and the test harness start the platform through here; nothing below
the interfaces imports it (the layers contract in pyproject.toml)."""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from api.app import create_api
from api.deps import set_platform
from infra import runlock
from infra.runlock import RunLock
from infra.settings import Settings
from streams.platform import Platform

log = logging.getLogger("bloodtrace.platform")


def lifespan(platform: Platform) -> Callable[[FastAPI], Any]:
    """The ASGI lifespan: the worker and the scheduler run while the API serves, and the
    routes reach this platform (``api.deps.platform``) only meanwhile."""

    @asynccontextmanager
    async def _lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with platform.running():
            set_platform(platform)
            try:
                yield
            finally:
                set_platform(None)

    return _lifespan


class _Terminated(Exception):
    """SIGTERM, turned into an exception so that clean-up code runs as it does for Ctrl-C."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated(signum)


def serve(settings: Settings, run_lock: RunLock | None = None) -> None:
    """Run the platform until SIGINT or SIGTERM, then stop everything it started.

    uvicorn handles both signals for its graceful shutdown and then re-raises the one it got.
    SIGINT's default handler raises KeyboardInterrupt, but SIGTERM's default kills the process
    on the spot, which skipped the `finally` below and left the embedded broker running: so
    SIGTERM raises an exception here too, whether it arrives during start-up or later.
    """
    lock = run_lock or runlock.acquire(settings, "serve")  # before anything is touched
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    platform: Platform | None = None
    try:
        platform = Platform(settings)
        platform.prepare()
        api = create_api(lifespan=lifespan(platform))
        config = uvicorn.Config(
            api,
            host=settings.api_host,
            port=settings.api_port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
        uvicorn.Server(config).run()
    except (KeyboardInterrupt, _Terminated):
        log.info("stopping on signal")
    finally:
        # A second Ctrl-C or SIGTERM must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            if platform is not None:
                platform.shutdown()
        finally:
            lock.release()
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, signal.default_int_handler)
