"""Lookback endpoints: the lookbacks opened by confirmed reactive donations, and where each
recalled component is now. Every request is audited like a trace."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request

from api.deps import platform
from api.routes.trace import requester
from infra.warehouse import thread_client
from streams.lookback import list_lookbacks, show_lookback
from streams.trace import audited

router = APIRouter(tags=["lookback"])


@router.get("/v1/lookbacks")
def get_lookbacks(
    request: Request,
    status: Literal["open", "closed"] | None = Query(
        None, description="Only lookbacks with recalled components still out (open) or not."
    ),
    limit: int = Query(100, ge=1, le=10_000),
) -> list[dict[str, Any]]:
    """The latest lookbacks, newest first, each with how many recalls are still open."""
    settings = platform().settings
    client = thread_client(settings)
    return audited(
        client,
        requester(request),
        "lookback.list",
        status or "all",
        lambda: list_lookbacks(client, settings, status=status, limit=limit),
    )


@router.get("/v1/lookbacks/{lookback_id}")
def get_lookback(lookback_id: str, request: Request) -> dict[str, Any]:
    """One lookback: its trigger, every donation and component in scope, where each is now,
    the recipients to notify and the state of every recall. 404 if unknown."""
    settings = platform().settings
    client = thread_client(settings)
    return audited(
        client,
        requester(request),
        "lookback.show",
        lookback_id[:40],
        lambda: show_lookback(client, lookback_id, settings),
    )
