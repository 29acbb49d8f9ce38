"""Lookback endpoints: the lookbacks opened by confirmed reactive donations, and where each
recalled component is now. Every request is audited like a trace."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request

from api.routes.trace import audited_lookup
from streams.lookback import list_lookbacks, show_lookback

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
    return audited_lookup(
        request,
        "lookback.list",
        status or "all",
        lambda c, s: list_lookbacks(c, s, status=status, limit=limit),
    )


@router.get("/v1/lookbacks/{lookback_id}")
def get_lookback(lookback_id: str, request: Request) -> dict[str, Any]:
    """One lookback: its trigger, every donation and component in scope, where each is now,
    the recipients to notify and the state of every recall. 404 if unknown."""
    return audited_lookup(
        request, "lookback.show", lookback_id[:40], lambda c, s: show_lookback(c, lookback_id, s)
    )
