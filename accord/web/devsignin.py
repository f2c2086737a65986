"""The development issuer's authorization and token endpoints (never in production).

``accord demo`` and tests sign people in without an external identity provider: the
authorization endpoint lists the members of the organisations that trust the development
issuer, the person is picked, and the token endpoint hands the app a development-issuer
token for them, after checking the PKCE verifier. Only this app's own client and its own
callback are served; codes live a minute and are used once.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from accord.platform import clock
from accord.tenants import service as tenant_service
from accord.tenants.identity import service as identity_service
from accord.tenants.identity.devissuer import DEV_ISSUER, DevIssuer
from accord.web.core import form_with_csrf, web_of
from accord.web.gateway import Problem
from accord.web.signin import CLIENT_ID

CODE_LIFETIME = timedelta(seconds=60)
TOKEN_LIFETIME = timedelta(hours=1)
_PARAMS = ("client_id", "redirect_uri", "state", "code_challenge", "login_hint")


def _checked(request: Request, values: dict[str, str]) -> dict[str, str] | None:
    """The authorization request's parameters, if they are this app's own PKCE request."""
    if values.get("response_type", "code") != "code":
        return None
    if values.get("client_id") != CLIENT_ID or values.get("code_challenge_method") != "S256":
        return None
    if values.get("redirect_uri") != str(request.url_for("auth_callback")):
        return None
    if not values.get("code_challenge") or not values.get("state"):
        return None
    return {k: values.get(k, "") for k in _PARAMS}


async def authorize_page(request: Request) -> Response:
    web = web_of(request)
    params = _checked(request, dict(request.query_params))
    if params is None:
        problem = Problem(code="BAD_USER_INPUT", message="Not an authorization request of Accord.")
        return web.refusal(request, [problem])
    people = await _people(request, params["login_hint"])
    return web.render(request, "dev_authorize.html", params=params, people=people, user=None)


async def authorize(request: Request) -> Response:
    web = web_of(request)
    form = await form_with_csrf(request)
    if isinstance(form, Response):
        return form
    params = _checked(request, form | {"code_challenge_method": "S256"})
    tenant, _, subject = form.get("person", "").partition("/")
    people = await _people(request, params["login_hint"] if params else "")
    if params is None or (tenant, subject) not in {(p["tenant"], p["subject"]) for p in people}:
        problem = Problem(code="BAD_USER_INPUT", message="Pick one of the people listed.")
        return web.refusal(request, [problem])
    _forget_expired(web.dev_codes)
    code = secrets.token_urlsafe(32)
    web.dev_codes[code] = {
        "tenant": tenant,
        "subject": subject,
        "redirect_uri": params["redirect_uri"],
        "challenge": params["code_challenge"],
        "expires": clock.now() + CODE_LIFETIME,
    }
    query = urlencode({"code": code, "state": params["state"]})
    return RedirectResponse(f"{params['redirect_uri']}?{query}", status_code=303)


async def token(request: Request) -> Response:
    web = web_of(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    grant = web.dev_codes.pop(form.get("code", ""), None)
    if form.get("grant_type") != "authorization_code" or grant is None:
        return _oauth_error("invalid_grant")
    if grant["expires"] < clock.now() or form.get("client_id") != CLIENT_ID:
        return _oauth_error("invalid_grant")
    if form.get("redirect_uri") != grant["redirect_uri"]:
        return _oauth_error("invalid_grant")
    challenge = create_s256_code_challenge(form.get("code_verifier", ""))
    if not hmac.compare_digest(challenge.encode(), str(grant["challenge"]).encode()):
        return _oauth_error("invalid_grant")
    access = DevIssuer.load(web.settings).mint_token(
        grant["tenant"], grant["subject"], ttl=TOKEN_LIFETIME
    )
    return JSONResponse(
        {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": int(TOKEN_LIFETIME.total_seconds()),
        },
        headers={"cache-control": "no-store"},
    )


def _oauth_error(error: str) -> JSONResponse:
    return JSONResponse({"error": error}, status_code=400, headers={"cache-control": "no-store"})


def _forget_expired(codes: dict[str, dict[str, Any]]) -> None:
    now = clock.now()
    for code in [c for c, grant in codes.items() if grant["expires"] < now]:
        del codes[code]


async def _people(request: Request, tenant: str) -> list[dict[str, str]]:
    """Members of the organisations that trust the development issuer (one, if named)."""
    people: list[dict[str, str]] = []
    async with request.app.state.runtime.control_session() as s:
        for found in await tenant_service.list_tenants(session=s, include_offboarded=False):
            if tenant and found.slug != tenant:
                continue
            if (
                await identity_service.get_provider(session=s, tenant=found.slug, issuer=DEV_ISSUER)
                is None
            ):
                continue
            for member in await tenant_service.list_members(session=s, tenant=found):
                people.append(
                    {
                        "tenant": found.slug,
                        "organisation": found.legal_name,
                        "subject": member.subject,
                        "name": member.display_name,
                        "roles": ", ".join(member.roles),
                    }
                )
    return people
