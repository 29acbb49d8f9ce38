"""`bloodtrace users …` and `bloodtrace facilities …`: credentials, created, listed, rotated
and revoked.

People (quality officers, leadership viewers, administrators) are users; a facility's emitting
systems hold an emitter credential bound to that facility. Through the running platform's
API (as the administrator whose token is BLOODTRACE_AUTH__TOKEN or _TOKEN_FILE) when it is up,
else straight on the warehouse (whoever can open it holds the data anyway). A token is printed
once, when created or rotated: only its argon2 hash is kept.
"""

from __future__ import annotations

import getpass
import socket
from typing import Any

import typer
from rich.table import Table

from cli._output import console, friendly, print_json
from cli._platform import api_call, open_warehouse, platform_is_up, platform_or_warehouse
from infra.auth import PERSON_ROLES, Credential, CredentialStore, Role
from infra.settings import Settings, get_settings
from infra.warehouse import WarehouseClient


def _local_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()} (cli, on the warehouse)"


def _audit(client: WarehouseClient, action: str, subject: str, detail: str = "") -> None:
    from streams.trace import Requester, record_audit

    actor = _local_actor()
    record_audit(client, Requester(actor, "cli", actor), action, subject, "ok", detail)


def _signing(settings: Settings, credential: Credential) -> dict[str, str]:
    from sdk.signing import facility_key

    if credential.role is not Role.EMITTER:
        return {}
    key = facility_key(settings.signing_master(), credential)
    return {"signer": credential.id, "signing_key": key.hex()}


def create(kind: str, name: str, role: Role, facility_id: str = "") -> dict[str, Any]:
    settings = get_settings()
    body = {"kind": kind, "name": name, "role": role.value, "facility_id": facility_id}
    if platform_is_up(settings):
        return dict(api_call(settings, "POST", "/v1/admin/credentials", json=body))
    client = open_warehouse(settings)
    credential, token = CredentialStore(client).create(
        kind, name, role, facility_id, by=_local_actor()
    )
    _audit(client, "credential.create", credential.id, f"{kind} {name} as {role.value}")
    return credential.public() | {"token": token} | _signing(settings, credential)


def change(credential_id: str, action: str) -> dict[str, Any]:
    settings = get_settings()
    if platform_is_up(settings):
        path = f"/v1/admin/credentials/{credential_id}/{action}"
        return dict(api_call(settings, "POST", path))
    client = open_warehouse(settings)
    store = CredentialStore(client)
    if action == "rotate":
        credential, token = store.rotate(credential_id, by=_local_actor())
        result = credential.public() | {"token": token} | _signing(settings, credential)
    else:
        result = store.revoke(credential_id, by=_local_actor()).public()
    _audit(client, f"credential.{action}", credential_id)
    return result


def listing(kind: str) -> list[dict[str, Any]]:
    settings = get_settings()
    found = platform_or_warehouse(
        settings,
        "/v1/admin/credentials",
        lambda c: [credential.public() for credential in CredentialStore(c).all().values()],
    )
    return [c for c in found if c["kind"] == kind]


def show(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    who = result["facility_id"] or result["role"]
    console.print(f"credential [bold]{result['id']}[/] ({result['name']}, {who})")
    if "token" in result:
        console.print(f"token (shown once, keep it safe): {result['token']}")
    if "signing_key" in result:
        console.print(
            f"Kafka signing (SDK): BLOODTRACE_SIGNER={result['signer']} "
            f"BLOODTRACE_SIGNING_KEY={result['signing_key']} (shown once)"
        )
    if result.get("revoked"):
        console.print("revoked")


def table(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    out = Table(title_justify="left")
    for column in ("id", "name", "role", "facility", "revoked", "changed", "by"):
        out.add_column(column)
    for r in rows:
        out.add_row(
            r["id"],
            r["name"],
            r["role"],
            r["facility_id"],
            "yes" if r["revoked"] else "",
            r["changed_at"][:19],
            r["changed_by"],
        )
    console.print(out)


JSON = typer.Option(False, "--json", help="Print JSON.")


def register(app: typer.Typer) -> None:
    users = typer.Typer(help="People's credentials: quality officers, viewers, administrators.")
    facilities = typer.Typer(help="Facilities' emitter credentials (one facility each).")
    app.add_typer(users, name="users")
    app.add_typer(facilities, name="facilities")
    person_roles = ", ".join(r.value for r in PERSON_ROLES)

    @users.command("create")
    @friendly
    def users_create(
        name: str = typer.Argument(..., help="Who (a name or staff number)."),
        role: str = typer.Option(..., "--role", "-r", help=f"One of: {person_roles}."),
        as_json: bool = JSON,
    ) -> None:
        """A person's credential; prints its token once."""
        from infra.errors import InvalidCredentialRequest

        if role not in {r.value for r in PERSON_ROLES}:
            raise InvalidCredentialRequest(
                f"No person role {role!r}.", hint=f"Roles: {person_roles}."
            )
        show(create("person", name, Role(role)), as_json)

    @facilities.command("create")
    @friendly
    def facilities_create(
        facility_id: str = typer.Argument(..., help="The facility, e.g. BS01 or H03."),
        name: str = typer.Option("", "--name", help="The emitting system (default: the facility)."),
        as_json: bool = JSON,
    ) -> None:
        """An emitter credential bound to one facility; prints its token once."""
        show(create("facility", name or facility_id, Role.EMITTER, facility_id), as_json)

    for group, kind in ((users, "person"), (facilities, "facility")):

        @group.command("list")
        @friendly
        def list_(as_json: bool = JSON, kind: str = typer.Option(kind, hidden=True)) -> None:
            """Every credential (never a secret), revoked ones too."""
            table(listing(kind), as_json)

        @group.command("rotate")
        @friendly
        def rotate(credential_id: str = typer.Argument(...), as_json: bool = JSON) -> None:
            """A new token for the credential; the old one stops working within seconds."""
            show(change(credential_id, "rotate"), as_json)

        @group.command("revoke")
        @friendly
        def revoke(credential_id: str = typer.Argument(...), as_json: bool = JSON) -> None:
            """Revoke the credential on every worker within seconds (auth.cache_seconds)."""
            show(change(credential_id, "revoke"), as_json)
