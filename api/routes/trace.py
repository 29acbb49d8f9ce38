"""Trace endpoints: a unit's whole chain, a recipient's donors, a donor's recipients.

Every request is recorded in the audit log (who: the authenticated credential, api.auth;
from where: the client address, and X-Bloodtrace-Client when a CLI relays the request).
Identifiers may be ps_ pseudonyms or national ID numbers; only the pseudonym is ever stored
or logged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request

from api.auth import principal_of
from api.deps import platform
from infra.errors import InvalidIdentifier
from infra.settings import Settings
from infra.warehouse import WarehouseClient, thread_client
from streams.trace import (
    Requester,
    audited,
    donor_trace,
    person_id,
    recipient_trace,
    unit_code,
    unit_trace,
)

router = APIRouter(tags=["trace"])
T = TypeVar("T")


def requester(request: Request) -> Requester:
    """Who is asking, for the audit log."""
    actor = principal_of(request).label
    address = request.client.host if request.client else "unknown"
    relay = request.headers.get("x-bloodtrace-client")
    return Requester(actor, "http", f"{address} ({relay})" if relay else address)


def audited_lookup(
    request: Request,
    action: str,
    subject: str,
    lookup: Callable[[WarehouseClient, Settings], T],
) -> T:
    """A lookup on this thread's warehouse client, recorded in the audit log as ``action`` on
    ``subject`` by the request's caller (answered or refused)."""
    settings = platform().settings
    client = thread_client(settings)
    return audited(client, requester(request), action, subject, lambda: lookup(client, settings))


@router.get("/v1/units/{din}/trace")
def get_unit_trace(din: str, request: Request) -> dict[str, Any]:
    """The whole chain of one unit in time order: donor, donation, tests, release, components,
    storage and temperature excursions, shipments, receipt, crossmatch, issue, returns,
    transfusion and recipient, reactions, discard, recall notices. 404 if unknown, 422 if the
    DIN is malformed (the check character is optional)."""
    try:
        subject = unit_code(din)
    except InvalidIdentifier:
        subject = din[:40]
    return audited_lookup(request, "trace.unit", subject, lambda c, s: unit_trace(c, din, s))


@router.get("/v1/recipients/{recipient}/trace")
def get_recipient_trace(recipient: str, request: Request) -> dict[str, Any]:
    """Backward: every donation whose components this recipient was issued or transfused,
    with its donor and the unit traces. 404 if nothing was given to this recipient."""
    pseudonym = person_id(recipient, platform().settings)
    return audited_lookup(
        request, "trace.recipient", pseudonym, lambda c, s: recipient_trace(c, pseudonym, s)
    )


@router.get("/v1/donors/{donor}/trace")
def get_donor_trace(donor: str, request: Request) -> dict[str, Any]:
    """Forward: every donation of this donor, where each component went and who received it.
    404 if the donor has no donation."""
    pseudonym = person_id(donor, platform().settings)
    return audited_lookup(
        request, "trace.donor", pseudonym, lambda c, s: donor_trace(c, pseudonym, s)
    )
