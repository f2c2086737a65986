"""``accord token``: demo tokens from the local development issuer.

Wire into the main CLI with ``app.command("token")(token)`` (one command) or
``app.add_typer(token_app, name="token")`` (``accord token mint`` / ``accord token jwks``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from datetime import timedelta
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy import select

from accord.platform.errors import AccordError, ErrorCode, NotFound
from accord.platform.runtime import open_runtime
from accord.platform.settings import Settings
from accord.tenants import service as tenant_service
from accord.tenants.identity import accounts
from accord.tenants.identity.devissuer import DevIssuer, ensure_not_prod, register_dev_issuer
from accord.tenants.identity.principal import SYNC_SCOPE
from accord.tenants.models import Member

T = TypeVar("T")

token_app = typer.Typer(
    help="Development tokens (refused when ACCORD_ENV=prod).", no_args_is_help=True
)
err = Console(stderr=True)


def _fail(exc: AccordError) -> typer.Exit:
    err.print(f"[red]error[/red] {exc.code.value}/{exc.reason}: {exc.message}")
    return typer.Exit(1 if exc.code == ErrorCode.INTERNAL else 2)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        err.print(f"[red]error[/red] BAD_USER_INPUT/BAD_SETTINGS: {exc}")
        raise typer.Exit(2) from exc


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except AccordError as exc:
        raise _fail(exc) from None


async def mint_dev_token(
    settings: Settings, *, tenant: str, subject: str, ttl: timedelta, service: bool
) -> str:
    """Register the dev issuer for ``tenant`` if needed and mint a token for ``subject``.

    ``subject`` must be a member of the tenant, or with ``service`` one of its service
    accounts (the token then carries the ``sync`` scope, like a client-credentials grant).
    """
    issuer = DevIssuer.load(settings)
    async with open_runtime(settings) as runtime, runtime.control_session() as session:
        found = await tenant_service.get_accessible(session=session, slug=tenant)
        if service:
            account = await accounts.find_service_account(
                session=session, tenant=found.slug, client_id=subject
            )
            if account is None:
                raise NotFound(
                    f"No service account '{subject}' in tenant '{tenant}'.",
                    reason="UNKNOWN_CLIENT_ID",
                    field="user",
                )
        else:
            stmt = select(Member.id).where(
                Member.tenant == found.slug, Member.subject == subject, Member.removed_at.is_(None)
            )
            if (await session.scalars(stmt)).first() is None:
                raise NotFound(
                    f"No member '{subject}' in tenant '{tenant}'.",
                    reason="UNKNOWN_MEMBER",
                    field="user",
                )
        await register_dev_issuer(session=session, tenant=found, settings=settings)
    scopes = (SYNC_SCOPE,) if service else ()
    return issuer.mint_token(found.slug, subject, ttl=ttl, scopes=scopes)


@token_app.command("mint")
def token(
    tenant: Annotated[str, typer.Option("--tenant", help="Tenant slug.")],
    user: Annotated[
        str, typer.Option("--user", help="Member subject (or client id with --service).")
    ],
    ttl: Annotated[
        int, typer.Option("--ttl", min=1, max=30 * 86400, help="Lifetime in seconds.")
    ] = 3600,
    service: Annotated[
        bool, typer.Option("--service", help="Mint a service-account (sync) token.")
    ] = False,
) -> None:
    """Print a bearer token from the local development issuer (never in production)."""
    settings = _settings()
    try:
        ensure_not_prod(settings)
    except AccordError as exc:
        raise _fail(exc) from None
    value = _run(
        mint_dev_token(
            settings, tenant=tenant, subject=user, ttl=timedelta(seconds=ttl), service=service
        )
    )
    typer.echo(value)


@token_app.command("jwks")
def jwks() -> None:
    """Print the development issuer's public JWKS."""
    try:
        typer.echo(json.dumps(DevIssuer.load(_settings()).jwks(), indent=2))
    except AccordError as exc:
        raise _fail(exc) from None
