"""``accord idp``, ``accord member``, ``accord service-account``: a tenant's identities.

What a tenant admin does over the API, for an operator's scripts. Each change is written
to the tenant's event log with the actor ``accord-cli``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from accord.commands._support import JsonOption, out, with_runtime
from accord.platform.runtime import Runtime
from accord.tenants import service as tenant_service
from accord.tenants.identity import accounts, flows, members
from accord.tenants.identity import service as identity_service
from accord.tenants.identity.models import IdentityProvider, ServiceAccount
from accord.tenants.models import Member

CLI_ACTOR = "accord-cli"

idp_app = typer.Typer(
    help="Identity providers a tenant trusts (OIDC issuers, by discovery).", no_args_is_help=True
)
member_app = typer.Typer(help="A tenant's members and their roles.", no_args_is_help=True)
service_account_app = typer.Typer(
    help="Service accounts: OAuth2 clients of connectors and scripts.", no_args_is_help=True
)
TenantOption = Annotated[str, typer.Option("--tenant", help="The tenant's slug.")]


def _idp(p: IdentityProvider) -> dict[str, Any]:
    return {
        "issuer": p.issuer,
        "audience": p.audience,
        "jwks_uri": p.jwks_url,
        "algorithms": list(p.algorithms),
        "discovery_url": p.discovery_url,
    }


def _member(m: Member) -> dict[str, Any]:
    return {"subject": m.subject, "name": m.display_name, "email": m.email, "roles": m.roles}


def _account(a: ServiceAccount) -> dict[str, Any]:
    return {"client_id": a.client_id, "name": a.name, "has_secret": a.secret_hash is not None}


def _split(values: str) -> list[str]:
    return [v.strip() for v in values.split(",") if v.strip()]


@idp_app.command("add")
def idp_add(
    tenant: TenantOption,
    issuer: Annotated[str, typer.Argument(help="Issuer URL; its .well-known document is read.")],
    audience: Annotated[str, typer.Option(help="The aud its tokens carry for Accord.")],
    algorithms: Annotated[
        str | None, typer.Option(help="Comma-separated; default: all it advertises.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Trust an OIDC issuer: discovery -> JWKS URI and algorithms, checked now."""

    async def run(runtime: Runtime) -> IdentityProvider:
        return await flows.register_identity_provider(
            runtime,
            tenant=tenant,
            issuer=issuer,
            audience=audience,
            algorithms=_split(algorithms) if algorithms else None,
            actor=CLI_ACTOR,
        )

    provider = with_runtime(run)
    if as_json:
        out.print_json(json.dumps(_idp(provider)))
    else:
        out.print(f"{tenant} trusts {provider.issuer} ({', '.join(provider.algorithms)})")


@idp_app.command("list")
def idp_list(tenant: TenantOption, as_json: JsonOption = False) -> None:
    """The issuers a tenant trusts."""

    async def run(runtime: Runtime) -> list[dict[str, Any]]:
        async with runtime.control_session() as session:
            found = await tenant_service.get(session=session, slug=tenant)
            return [
                _idp(p)
                for p in await identity_service.list_providers(session=session, tenant=found)
            ]

    rows = with_runtime(run)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("issuer", "audience", "algorithms", "jwks uri")
    for r in rows:
        table.add_row(
            r["issuer"], r["audience"], ", ".join(r["algorithms"]), r["jwks_uri"] or "inline"
        )
    out.print(table)


@idp_app.command("remove")
def idp_remove(tenant: TenantOption, issuer: str) -> None:
    """Stop trusting an issuer; its tokens are refused from the next request."""
    with_runtime(
        lambda rt: flows.remove_identity_provider(rt, tenant=tenant, issuer=issuer, actor=CLI_ACTOR)
    )
    out.print(f"{tenant} no longer trusts {issuer}")


@member_app.command("add")
def member_add(
    tenant: TenantOption,
    subject: Annotated[str, typer.Argument(help="The sub of the person's tokens.")],
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    roles: Annotated[
        str, typer.Option(help="Comma-separated: tenant_admin, admin, quality_manager, ...")
    ] = "viewer",
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Let a subject of the tenant's issuers sign in, with roles."""

    async def run(runtime: Runtime) -> Member:
        return await flows.add_member(
            runtime,
            tenant=tenant,
            subject=subject,
            display_name=name,
            roles=_split(roles),
            email=email,
            actor=CLI_ACTOR,
        )

    member = with_runtime(run)
    if as_json:
        out.print_json(json.dumps(_member(member)))
    else:
        out.print(f"added {member.subject} to {tenant} ({', '.join(member.roles)})")


@member_app.command("list")
def member_list(tenant: TenantOption, as_json: JsonOption = False) -> None:
    """A tenant's members and roles."""

    async def run(runtime: Runtime) -> list[dict[str, Any]]:
        async with runtime.control_session() as session:
            found = await tenant_service.get(session=session, slug=tenant)
            return [_member(m) for m in await members.list_active(session=session, tenant=found)]

    rows = with_runtime(run)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("subject", "name", "roles")
    for r in rows:
        table.add_row(r["subject"], r["name"], ", ".join(r["roles"]))
    out.print(table)


@member_app.command("role")
def member_role(
    tenant: TenantOption,
    subject: str,
    roles: Annotated[str, typer.Option(help="The new roles, comma-separated.")],
) -> None:
    """Replace a member's roles (one tenant admin always stays)."""
    member = with_runtime(
        lambda rt: flows.change_member_roles(
            rt, tenant=tenant, subject=subject, roles=_split(roles), actor=CLI_ACTOR
        )
    )
    out.print(f"{member.subject}: {', '.join(member.roles)}")


@member_app.command("remove")
def member_remove(tenant: TenantOption, subject: str) -> None:
    """End a membership: no more sign-in, its signing keys revoked."""
    with_runtime(
        lambda rt: flows.remove_member(rt, tenant=tenant, subject=subject, actor=CLI_ACTOR)
    )
    out.print(f"removed {subject} from {tenant}")


@service_account_app.command("create")
def service_account_create(
    tenant: TenantOption,
    client_id: Annotated[str, typer.Argument(help="The client id (sub of its tokens).")],
    name: Annotated[str, typer.Option("--name", help="What the client is, e.g. SAP connector.")],
    secret: Annotated[
        bool, typer.Option("--secret", help="Issue a client secret (printed once, kept hashed).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Register a connector's OAuth2 client (its tokens come from the tenant's IdP)."""

    async def run(runtime: Runtime) -> flows.CreatedServiceAccount:
        return await flows.create_service_account(
            runtime,
            tenant=tenant,
            client_id=client_id,
            name=name,
            issue_secret=secret,
            actor=CLI_ACTOR,
        )

    created = with_runtime(run)
    if as_json:
        out.print_json(json.dumps({**_account(created.account), "client_secret": created.secret}))
        return
    out.print(f"created service account {created.account.client_id} in {tenant}")
    if created.secret is not None:
        out.print(f"client secret (shown once): {created.secret}", soft_wrap=True)


@service_account_app.command("list")
def service_account_list(tenant: TenantOption, as_json: JsonOption = False) -> None:
    """A tenant's service accounts."""

    async def run(runtime: Runtime) -> list[dict[str, Any]]:
        async with runtime.control_session() as session:
            found = await tenant_service.get(session=session, slug=tenant)
            found_accounts = await accounts.list_service_accounts(session=session, tenant=found)
            return [_account(a) for a in found_accounts]

    rows = with_runtime(run)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("client id", "name", "secret")
    for r in rows:
        table.add_row(r["client_id"], r["name"], "yes" if r["has_secret"] else "no")
    out.print(table)


@service_account_app.command("revoke")
def service_account_revoke(tenant: TenantOption, client_id: str) -> None:
    """Remove a service account; its tokens are refused from the next request."""
    with_runtime(
        lambda rt: flows.revoke_service_account(
            rt, tenant=tenant, client_id=client_id, actor=CLI_ACTOR
        )
    )
    out.print(f"revoked {client_id}")
