"""``GET /evidence/{id}/content``: an uploaded evidence file, as an attachment.

Behind the gateway's gates, with the same bearer token: the owner's members, and members
of organisations the owner shares evidence with at ``full``, whom the action gate lets
read evidence (under ``?process=`` when a shared process grants it). A ``summary`` grant
shows the evidence's metadata in the API but never its file (FORBIDDEN
EVIDENCE_WITHHELD); anyone else gets the answer a missing id gets (NOT_FOUND), so ids
probe nothing. A partner's download is written to the owner's access log.

The file is served as stored: its recognised media type, ``Content-Disposition:
attachment`` with the sanitised name (RFC 6266, with an RFC 8187 UTF-8 form), ``nosniff``,
a sandboxing CSP, no caching, and its SHA-256 as ``Repr-Digest`` (RFC 9530). Bytes whose
hash no longer matches their name are not served.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from urllib.parse import quote

from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from accord.compliance.evidence import service as evidence_service
from accord.compliance.evidence.uploads import content_of
from accord.graphql.audits.access import require_visible, sovereign
from accord.graphql.auth import require_tenant
from accord.graphql.context import Context, build_context, request_id_from
from accord.graphql.cursors import CursorSigner
from accord.graphql.evidence.levels import evidence_grant
from accord.graphql.records.evidence import RECORD_TYPE
from accord.graphql.relay import GlobalId
from accord.platform.errors import AccordError, BadInput, ErrorCode, Forbidden, NotFound
from accord.platform.runtime import Runtime
from accord.policies.engine import PolicyEngine
from accord.policies.schemas import Resource
from accord.tenants.agreements.access import write_access_log
from accord.tenants.agreements.models import SharingLevel
from accord.tenants.agreements.service import access_entries
from accord.tenants.identity.middleware import principal_of
from accord.tenants.sessions import tenant_session

log = logging.getLogger("accord.graphql")

PATH = "/evidence/{id}/content"
_STATUS = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.BAD_USER_INPUT: 400,
    ErrorCode.CONFLICT: 409,
    ErrorCode.TENANT_UNAVAILABLE: 503,
    ErrorCode.RATE_LIMITED: 429,
}
_MAX_PROCESS = 100


def evidence_not_found() -> NotFound:
    return NotFound("No such evidence.", reason="EVIDENCE_NOT_FOUND", field="id")


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII fallback name and the exact UTF-8 one (RFC 6266)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\%' else "_" for c in filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class EvidenceDownload:
    """The download route (an ASGI app), built by ``create_app`` next to the GraphQL one."""

    def __init__(
        self, runtime_of: Callable[[HTTPConnection], Runtime], *, cursors: CursorSigner
    ) -> None:
        self._runtime_of = runtime_of
        self._cursors = cursors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self._download(request)
        except AccordError as exc:
            details = exc.as_dict()
            message = details.pop("message")
            response = JSONResponse(
                {"data": None, "errors": [{"message": message, "extensions": details}]},
                status_code=_STATUS.get(exc.code, 500),
                headers={"Cache-Control": "no-store"},
            )
        await response(scope, receive, send)

    def _context(self, request: Request) -> Context:
        engine: PolicyEngine | None = getattr(request.app.state, "policy_engine", None)
        return build_context(
            runtime=self._runtime_of(request),
            principal=principal_of(request.scope),
            engine=engine,
            cursors=self._cursors,
            request_id=request_id_from(request.headers.get("x-request-id")),
        )

    async def _download(self, request: Request) -> Response:
        context = self._context(request)
        principal, own = require_tenant(context)
        gid = GlobalId.decode(request.path_params["id"], expected="Evidence")
        process = request.query_params.get("process") or None
        if process is not None and len(process) > _MAX_PROCESS:
            raise BadInput(
                f"process has more than {_MAX_PROCESS} characters.",
                reason="TOO_LONG",
                field="process",
            )
        caller = await sovereign(
            context, owner=gid.tenant, record_type=RECORD_TYPE, unshared=evidence_not_found
        )
        require_visible(
            context, caller, Resource(gid.tenant, RECORD_TYPE, process), evidence_not_found
        )
        if caller.level is not SharingLevel.FULL:
            raise Forbidden(
                "The owner shares only a summary of its evidence with your organisation: "
                "its metadata, never its files.",
                reason="EVIDENCE_WITHHELD",
            )
        async with tenant_session(context.runtime, gid.tenant) as session:
            try:
                evidence = await evidence_service.get_evidence(
                    session=session, evidence_id=gid.record_id
                )
            except NotFound:
                raise evidence_not_found() from None
            stored = await content_of(session=session, evidence=evidence)
            filename = evidence.filename or "evidence"
            content, media_type = stored.content, stored.media_type
        digest = hashlib.sha256(content).digest()
        if digest.hex() != evidence.sha256:
            log.error("evidence %s/%s: stored bytes do not match their hash", gid.tenant, gid)
            raise AccordError(
                "The stored file does not match its hash; it is not served.",
                reason="EVIDENCE_CORRUPT",
            )
        grant = await evidence_grant(context, own, gid.tenant)
        if grant is not None:
            await write_access_log(
                context.runtime,
                access_entries(
                    grants=[(grant, 1)],
                    grantee=own,
                    principal=f"{own}/{principal.subject}",
                    request_id=context.request_id,
                ),
            )
        return Response(
            content,
            media_type=media_type,
            headers={
                "Content-Disposition": content_disposition(filename),
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "private, no-store",
                "Repr-Digest": f"sha-256=:{base64.b64encode(digest).decode()}:",
            },
        )
