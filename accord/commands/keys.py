"""``accord keys``: members' signing keys (executives sign management reviews with them).

``generate`` makes the key pair where the member runs it: the private key goes to a file
only its owner can read (unencrypted PEM, what ``accord review sign --key`` reads) and
only the public half is registered. If registering fails, the file is removed again.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.table import Table

from accord.commands._support import JsonOption, out, with_runtime
from accord.compliance.reviews.signatures.jws import public_jwk
from accord.platform.errors import BadInput, Conflict
from accord.platform.runtime import Runtime
from accord.platform.secrets import write_private_once
from accord.tenants.identity import flows
from accord.tenants.identity.member_keys import MEMBER_KEY_ALGORITHMS, key_state
from accord.tenants.identity.models import MemberKey

CLI_ACTOR = "accord-cli"

keys_app = typer.Typer(
    help="Members' signing keys: generate, list, revoke (the kid a signer uses).",
    no_args_is_help=True,
)
TenantOption = Annotated[str, typer.Option("--tenant", help="The member's tenant.")]
MemberOption = Annotated[str, typer.Option("--member", help="The member's subject.")]


def _key(key: MemberKey) -> dict[str, Any]:
    return {
        "kid": key.kid,
        "alg": key.alg,
        "state": key_state(key),
        "not_before": key.created_at.isoformat(),
        "not_after": key.revoked_at.isoformat() if key.revoked_at else None,
    }


def _private_pem(alg: str) -> tuple[bytes, dict[str, str]]:
    private = (
        Ed25519PrivateKey.generate()
        if alg == "Ed25519"
        else ec.generate_private_key(ec.SECP256R1())
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, public_jwk(private)


@keys_app.command("generate")
def generate(
    tenant: TenantOption,
    member: MemberOption,
    out_file: Annotated[
        Path, typer.Option("--out", help="Where to write the private key (created 0600).")
    ],
    alg: Annotated[str, typer.Option(help="Ed25519 or ES256.")] = "Ed25519",
    rotate: Annotated[
        str | None, typer.Option("--rotate", help="Retire this kid in favour of the new key.")
    ] = None,
    overlap: Annotated[
        int, typer.Option(help="With --rotate: seconds the old key may still sign.")
    ] = 0,
    as_json: JsonOption = False,
) -> None:
    """Make a key pair: the private key to a file of your own, the public half registered."""

    async def run(runtime: Runtime) -> MemberKey:
        if alg not in MEMBER_KEY_ALGORITHMS:
            raise BadInput(
                f"Signing keys use {' or '.join(MEMBER_KEY_ALGORITHMS)}.",
                reason="UNSUPPORTED_KEY_ALGORITHM",
                field="alg",
            )
        if out_file.exists():
            raise Conflict(
                f"{out_file} exists; a private key is never overwritten.",
                reason="KEY_FILE_EXISTS",
                field="out",
            )
        pem, jwk = _private_pem(alg)
        write_private_once(out_file, pem)
        try:
            if rotate is not None:
                _, key = await flows.rotate_signing_key(
                    runtime,
                    tenant=tenant,
                    subject=member,
                    kid=rotate,
                    jwk=jwk,
                    alg=alg,
                    overlap=timedelta(seconds=max(overlap, 0)),
                    actor=CLI_ACTOR,
                )
                return key
            return await flows.register_signing_key(
                runtime, tenant=tenant, subject=member, jwk=jwk, alg=alg, actor=CLI_ACTOR
            )
        except BaseException:
            out_file.unlink(missing_ok=True)
            raise

    key = with_runtime(run)
    if as_json:
        out.print_json(json.dumps({**_key(key), "private_key_file": str(out_file)}))
    else:
        out.print(f"registered key {key.kid} ({key.alg}) for {member}; private key in {out_file}")
        out.print(f"sign with kid {key.kid}", soft_wrap=True)


@keys_app.command("list")
def list_keys(
    tenant: TenantOption,
    member: MemberOption,
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    as_json: JsonOption = False,
) -> None:
    """A member's key ids, with their validity windows."""

    async def run(runtime: Runtime) -> list[dict[str, Any]]:
        keys = await flows.signing_keys(
            runtime, tenant=tenant, subject=member, include_revoked=include_revoked
        )
        return [_key(k) for k in keys]

    rows = with_runtime(run)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    table = Table("kid", "alg", "state", "valid from", "valid until")
    for r in rows:
        table.add_row(r["kid"], r["alg"], r["state"], r["not_before"], r["not_after"] or "")
    out.print(table)


@keys_app.command("revoke")
def revoke(tenant: TenantOption, member: MemberOption, kid: str) -> None:
    """Revoke a key now; what it signed while valid still verifies."""
    key = with_runtime(
        lambda rt: flows.revoke_signing_key(
            rt, tenant=tenant, subject=member, kid=kid, actor=CLI_ACTOR
        )
    )
    out.print(f"revoked {key.kid} of {member}")
