"""The actions a page offers, each one mutation of the API, posted with a CSRF token.

After a mutation the browser is sent back to the record (303, so a reload posts nothing
twice); a refusal is a page with the API's code and what it means in plain words.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from accord.tenants.identity.principal import Principal
from accord.web.core import form_with_csrf, signed_in_or_redirect, web_of
from accord.web.operations import RESPOND, SIGN_REVIEW, TRANSITION, VERIFY, Operation

MAX_JWS_BYTES = 8192


async def _run(
    request: Request, operation: Operation, field: str, variables: dict[str, Any], back: str
) -> Response:
    principal = await signed_in_or_redirect(request)
    if not isinstance(principal, Principal):
        return principal
    web = web_of(request)
    result = await web.gateway.run(request, principal, operation, variables)
    problems = result.payload_problems(field)
    if problems:
        return web.refusal(request, problems, user=principal)
    return RedirectResponse(back, status_code=303)


def _back(kind: str, record_id: str, process: str | None, done: str) -> str:
    query = {"done": done} | ({"process": process} if process else {})
    return f"/{kind}/{record_id}?{urlencode(query)}"


async def respond(request: Request) -> Response:
    form = await form_with_csrf(request)
    if isinstance(form, Response):
        return form
    record_id, process = request.path_params["id"], form.get("process") or None
    variables = {"id": record_id, "response": form.get("response", ""), "process": process}
    back = _back("findings", record_id, process, "responded")
    return await _run(request, RESPOND, "respondToFinding", variables, back)


async def transition(request: Request) -> Response:
    form = await form_with_csrf(request)
    if isinstance(form, Response):
        return form
    record_id, process = request.path_params["id"], form.get("process") or None
    target = form.get("target", "")
    variables = {
        "id": record_id,
        "target": target,
        "reason": form.get("reason") or None,
        "process": process,
    }
    back = _back("findings", record_id, process, target.lower())
    return await _run(request, TRANSITION, "transitionFinding", variables, back)


async def verify(request: Request) -> Response:
    form = await form_with_csrf(request)
    if isinstance(form, Response):
        return form
    record_id, process = request.path_params["id"], form.get("process") or None
    variables = {"id": record_id, "result": form.get("result", "")}
    back = _back("findings", record_id, process, "verified")
    return await _run(request, VERIFY, "verifyAuditFinding", variables, back)


async def sign_review(request: Request) -> Response:
    """Sign with a detached JWS, pasted or uploaded as a file."""
    form_data = await request.form(max_files=1, max_fields=10)
    upload = form_data.get("jws_file")
    uploaded = ""
    if upload is not None and not isinstance(upload, str):
        uploaded = (await upload.read(MAX_JWS_BYTES + 1)).decode("ascii", "replace").strip()
    form = await form_with_csrf(request)
    if isinstance(form, Response):
        return form
    record_id, process = request.path_params["id"], form.get("process") or None
    jws = uploaded or form.get("jws", "").strip()
    variables = {"reviewId": record_id, "jws": jws[: MAX_JWS_BYTES + 1], "process": process}
    back = _back("reviews", record_id, process, "signed")
    return await _run(request, SIGN_REVIEW, "signManagementReview", variables, back)
