"""``accord review``: executives sign management reviews; signed reviews are exported and
verified offline.

``sign`` reads the frozen review from the database, re-digests its content, signs the
digest *here* with the private key file (it never leaves this process) and submits only
the detached JWS, which the server verifies against the signer's registered key.
``export`` writes a signed-review bundle; ``keys`` writes an organisation's published
signing keys, which a verifier pins; ``verify`` checks a bundle against pinned keys with
no database at all.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from accord.commands._support import JsonOption, err, out, report_error, with_runtime
from accord.compliance.reviews.schemas import document_digest
from accord.compliance.reviews.signatures import flows as signature_flows
from accord.compliance.reviews.signatures import schemas as signature_schemas
from accord.compliance.reviews.signatures import service as signature_service
from accord.compliance.reviews.signatures.bundles import (
    BundleUnreadable,
    BundleVerdict,
    verify_bundle,
)
from accord.compliance.reviews.signatures.jws import (
    Binding,
    Signer,
    load_private_key,
    public_jwk,
    sign_detached,
)
from accord.compliance.reviews.signatures.trust import (
    TrustedKeys,
    TrustUnreadable,
    combine,
    read_key_set,
)
from accord.platform.errors import BadInput, Conflict, ErrorCode
from accord.platform.runtime import Runtime
from accord.tenants.identity.member_keys import published_key_set
from accord.tenants.sessions import tenant_session

review_app = typer.Typer(
    help="Management reviews: executives sign them (detached JWS); export and verify offline.",
    no_args_is_help=True,
)
TenantOption = Annotated[str, typer.Option("--tenant", help="The tenant that owns the review.")]


def _review_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadInput(
            f"{value!r} is not a review id.", reason="BAD_ID", field="review_id"
        ) from None


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadInput(
            f"Cannot read the {what} {path}: {exc.strerror}.", reason="UNREADABLE_FILE"
        ) from None


def _write_json(path: Path, document: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
    except OSError as exc:
        report_error(BadInput(f"Cannot write {path}: {exc.strerror}.", reason="UNWRITABLE_FILE"))
        raise typer.Exit(2) from None


@review_app.command("sign")
def sign(
    review: Annotated[str, typer.Argument(help="The review (revision) id.")],
    tenant: TenantOption,
    signer: Annotated[
        str, typer.Option("--signer", help="Who signs: TENANT/SUBJECT of the executive.")
    ],
    key: Annotated[Path, typer.Option("--key", help="The signer's private key (unencrypted PEM).")],
    kid: Annotated[
        str | None,
        typer.Option(help="The registered key id (default: found from the key itself)."),
    ] = None,
    expect_digest: Annotated[
        str | None,
        typer.Option(help="Refuse to sign unless the content's digest is this one."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Sign a frozen review's content digest with your own key and submit the signature."""

    async def run(runtime: Runtime) -> signature_schemas.SignOutcome:
        review_id, who = _review_id(review), Signer.parse(signer)
        private = load_private_key(_read(key, "key file"))
        async with tenant_session(runtime, tenant) as session:
            found, document = await signature_flows.signing_document(
                session=session, review_id=review_id
            )
        digest = found.content_digest
        if digest is None or document_digest(found) != digest:
            raise Conflict(
                "The review's content does not match its digest; not signing.",
                reason="CONTENT_DIGEST_MISMATCH",
            )
        if expect_digest is not None and expect_digest != digest:
            raise Conflict(
                f"The content's digest is {digest}, not the expected {expect_digest}; not signing.",
                reason="UNEXPECTED_DIGEST",
                field="expect_digest",
            )
        err.print(
            f"signing '{escape(document['title'])}' revision {found.revision}, "
            f"digest {digest}, as {escape(str(who))}",
            soft_wrap=True,
        )
        async with runtime.control_session() as control:
            key_id = kid or await signature_service.key_id_for(
                control=control, signer=who, jwk=public_jwk(private)
            )
        binding = Binding(review=str(found.id), revision=found.revision, digest=digest, signer=who)
        compact = sign_detached(private, kid=key_id, binding=binding)
        return await signature_flows.sign_review(
            runtime, tenant=tenant, review_id=review_id, signer=who, jws=compact
        )

    outcome = with_runtime(run)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "signature_id": str(outcome.signature_id),
                    "review_id": str(outcome.review_id),
                    "revision": outcome.revision,
                    "content_digest": outcome.content_digest,
                    "kid": outcome.kid,
                    "alg": outcome.alg,
                    "status": outcome.status.value,
                    "missing": outcome.missing,
                }
            )
        )
        return
    out.print(
        f"signed revision {outcome.revision} of review {outcome.review_id} "
        f"({outcome.alg}, key {escape(outcome.kid)})",
        soft_wrap=True,
    )
    if outcome.missing:
        out.print(
            f"review is {outcome.status.value}; still to sign: "
            f"{escape(', '.join(outcome.missing))}",
            soft_wrap=True,
        )
    else:
        out.print(f"review is {outcome.status.value}: every required signatory has signed")


@review_app.command("export")
def export(
    review: Annotated[str, typer.Argument(help="The review (revision) id.")],
    tenant: TenantOption,
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the bundle (JSON).")],
) -> None:
    """Write a signed-review bundle: content, digest, signatures, signers and their keys."""

    async def run(runtime: Runtime) -> dict[str, Any]:
        review_id = _review_id(review)
        async with (
            tenant_session(runtime, tenant) as session,
            runtime.control_session() as control,
        ):
            return await signature_flows.export_bundle(
                session=session, control=control, tenant=tenant, review_id=review_id
            )

    bundle = with_runtime(run)
    _write_json(out_file, bundle)
    out.print(
        f"exported revision {bundle['review']['revision']} of review {bundle['review']['id']} "
        f"({bundle['review']['status']}, {len(bundle['signatures'])} signature(s)) to "
        f"{escape(str(out_file))}",
        soft_wrap=True,
    )


@review_app.command("keys")
def keys(
    tenants: Annotated[
        list[str],
        typer.Option(
            "--tenant", help="Whose members' keys (repeat for one combined set of several)."
        ),
    ],
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the key set (JSON).")],
) -> None:
    """Export an organisation's published signing keys — a JWKS with each key's holder and
    validity window, revoked keys included — for verifiers to pin with `review verify
    --trust`."""

    async def run(runtime: Runtime) -> dict[str, Any]:
        async with runtime.control_session() as control:
            return await published_key_set(session=control, tenants=tenants)

    key_set = with_runtime(run)
    _write_json(out_file, key_set)
    out.print(
        f"exported {len(key_set['keys'])} signing key(s) of {', '.join(key_set['tenants'])} "
        f"to {escape(str(out_file))}",
        soft_wrap=True,
    )


def _load_json(path: Path, what: str, unreadable: type[BundleUnreadable | TrustUnreadable]) -> Any:
    try:
        return json.loads(_read(path, what))
    except ValueError as exc:
        raise unreadable(
            f"{path} is not JSON: {exc}.",
            reason="BUNDLE_UNREADABLE" if unreadable is BundleUnreadable else "TRUST_UNREADABLE",
            code=ErrorCode.BAD_USER_INPUT,
        ) from None


#: Exit codes of ``verify``: verified; a check failed; unreadable input; consistent only.
VERIFIED, FAILED, UNREADABLE, NOT_ANCHORED = 0, 1, 2, 3
NOT_ANCHORED_MESSAGE = (
    "NOT VERIFIED: the bundle is internally consistent (its content matches its digest and "
    "each required signatory's signature verifies with the key the bundle itself carries), "
    "but no signature was checked against a key you trust — anyone can write such a bundle "
    "with keys of their own. Pin each organisation's published keys (`accord review keys`) "
    "with --trust FILE."
)


@review_app.command("verify")
def verify(
    bundle_file: Annotated[Path, typer.Argument(help="A bundle from `accord review export`.")],
    trust: Annotated[
        list[Path] | None,
        typer.Option(
            "--trust",
            help="A key set you trust (`accord review keys`): one per organisation, or one "
            "combined; repeatable.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Verify a signed-review bundle offline (no database) against the signing keys you
    trust: exit 0 verified, 1 naming what failed, 2 unreadable input, 3 internally
    consistent but checked against no trusted key (no --trust)."""
    try:
        bundle = _load_json(bundle_file, "bundle", BundleUnreadable)
        trusted: TrustedKeys | None = None
        if trust:
            trusted = combine(
                read_key_set(_load_json(p, "key set", TrustUnreadable), source=str(p))
                for p in trust
            )
        verdict = verify_bundle(bundle, trusted)
    except (BadInput, BundleUnreadable, TrustUnreadable) as exc:
        report_error(exc)
        raise typer.Exit(UNREADABLE) from None
    if as_json:
        _print_verdict_json(verdict, trusted)
    else:
        _print_verdict(verdict, bundle)
    if not verdict.ok:
        raise typer.Exit(FAILED)
    if not verdict.verified:
        raise typer.Exit(NOT_ANCHORED)


def _print_verdict_json(verdict: BundleVerdict, trusted: TrustedKeys | None) -> None:
    out.print_json(
        json.dumps(
            {
                "ok": verdict.ok,
                "verified": verdict.verified,
                "trusted_key_sets": [] if trusted is None else trusted.sources,
                "review": verdict.review,
                "revision": verdict.revision,
                "content_digest": verdict.digest,
                "signed": verdict.signed,
                "problems": [{"code": p.code, "message": p.message} for p in verdict.problems],
            }
        )
    )


def _print_verdict(verdict: BundleVerdict, bundle: dict[str, Any]) -> None:
    out.print(
        f"review {verdict.review} revision {verdict.revision}, content digest {verdict.digest}",
        soft_wrap=True,
    )
    what = "trusted signature" if verdict.anchored else "consistent signature"
    for line in verdict.signed:
        out.print(f"  {what}: {escape(line)}", soft_wrap=True)
    superseded = bundle.get("review", {}).get("superseded_by")
    if superseded:
        out.print(f"  note: this revision was superseded by review {superseded}")
    for problem in verdict.problems:
        err.print(f"[red]FAILED[/red] {escape(str(problem))}", soft_wrap=True)
    if verdict.verified:
        out.print(
            "verified: content matches its digest; every required signatory signed it with a "
            "key their organisation published, valid when they signed",
            soft_wrap=True,
        )
    elif verdict.ok:
        err.print(escape(NOT_ANCHORED_MESSAGE), soft_wrap=True)
