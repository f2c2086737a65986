"""``accord review``: executives sign management reviews; signed reviews are exported and
verified offline.

``sign`` reads the frozen review from the database, re-digests its content, signs the
digest *here* with the private key file (it never leaves this process) and submits only
the detached JWS, which the server verifies against the signer's registered key.
``export`` writes a signed-review bundle; ``verify`` checks one with no database at all.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from accord.commands._support import JsonOption, err, out, report_error, with_runtime
from accord.compliance.reviews import signing
from accord.compliance.reviews.jws import (
    Binding,
    BundleUnreadable,
    Signer,
    load_private_key,
    public_jwk,
    sign_detached,
    verify_bundle,
)
from accord.compliance.reviews.schemas import document_digest
from accord.platform.errors import BadInput, Conflict, ErrorCode
from accord.platform.runtime import Runtime
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

    async def run(runtime: Runtime) -> signing.SignOutcome:
        review_id, who = _review_id(review), Signer.parse(signer)
        private = load_private_key(_read(key, "key file"))
        async with tenant_session(runtime, tenant) as session:
            found, document = await signing.signing_document(session=session, review_id=review_id)
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
            key_id = kid or await signing.key_id_for(
                control=control, signer=who, jwk=public_jwk(private)
            )
        binding = Binding(review=str(found.id), revision=found.revision, digest=digest, signer=who)
        compact = sign_detached(private, kid=key_id, binding=binding)
        return await signing.sign_review(
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
            return await signing.export_bundle(
                session=session, control=control, tenant=tenant, review_id=review_id
            )

    bundle = with_runtime(run)
    try:
        out_file.write_text(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n", "utf-8")
    except OSError as exc:
        report_error(
            BadInput(f"Cannot write {out_file}: {exc.strerror}.", reason="UNWRITABLE_FILE")
        )
        raise typer.Exit(2) from None
    out.print(
        f"exported revision {bundle['review']['revision']} of review {bundle['review']['id']} "
        f"({bundle['review']['status']}, {len(bundle['signatures'])} signature(s)) to "
        f"{escape(str(out_file))}",
        soft_wrap=True,
    )


@review_app.command("verify")
def verify(
    bundle_file: Annotated[Path, typer.Argument(help="A bundle from `accord review export`.")],
    as_json: JsonOption = False,
) -> None:
    """Verify a signed-review bundle offline (no database): exit 1 naming what failed."""
    try:
        raw = _read(bundle_file, "bundle")
        try:
            bundle = json.loads(raw)
        except ValueError as exc:
            raise BundleUnreadable(
                f"{bundle_file} is not JSON: {exc}.",
                reason="BUNDLE_UNREADABLE",
                code=ErrorCode.BAD_USER_INPUT,
            ) from None
        verdict = verify_bundle(bundle)
    except (BadInput, BundleUnreadable) as exc:
        report_error(exc)
        raise typer.Exit(2) from None
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "ok": verdict.ok,
                    "review": verdict.review,
                    "revision": verdict.revision,
                    "content_digest": verdict.digest,
                    "signed": verdict.signed,
                    "problems": [{"code": p.code, "message": p.message} for p in verdict.problems],
                }
            )
        )
    else:
        out.print(
            f"review {verdict.review} revision {verdict.revision}, content digest {verdict.digest}",
            soft_wrap=True,
        )
        for line in verdict.signed:
            out.print(f"  valid signature: {escape(line)}", soft_wrap=True)
        superseded = bundle.get("review", {}).get("superseded_by")
        if superseded:
            out.print(f"  note: this revision was superseded by review {superseded}")
        for problem in verdict.problems:
            err.print(f"[red]FAILED[/red] {escape(str(problem))}", soft_wrap=True)
        if verdict.ok:
            out.print("verified: content matches its digest; every required signatory signed it")
    if not verdict.ok:
        raise typer.Exit(1)
