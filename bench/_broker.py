"""The benchmarks' own embedded broker: a fresh directory, a free port, memory storage."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from infra.broker import ensure_topics, start_embedded_broker
from infra.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def memory_broker(
    prefix: str, *, topics: bool = True, **values: Any
) -> Iterator[tuple[Settings, Path]]:
    """Settings on a new directory (``prefix``) reaching an embedded broker started there on
    memory storage (the benches measure the stream, not the broker's storage), its topics
    made unless ``topics`` is False; ``values``: more settings. Stops the broker after."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    base = Settings(
        data_dir=work,
        embedded_broker_port=free_port(),
        embedded_broker_storage="memory",
        pseudonym_key="bench",
        **values,
    )
    broker = start_embedded_broker(base)
    try:
        settings = base.model_copy(update={"broker_url": base.bootstrap_servers})
        if topics:
            ensure_topics(settings)
        yield settings, work
    finally:
        broker.stop()
