"""Sign-in: OIDC authorization code with PKCE at the organisation's own issuer.

authlib builds the authorization request, the PKCE challenge and the token request;
httpx carries the token request (authlib's own httpx client is not used: it warns that
its httpx support is deprecated).

``POST /signin`` finds the issuer the organisation registered, remembers a fresh state and
PKCE verifier in the session and sends the browser to the issuer's authorization
endpoint; ``GET /auth/callback`` exchanges the code for a token, authenticates that token
exactly as ``/graphql`` would, and starts the session. Outside production an organisation
that trusts the development issuer signs in there (``accord.web.devsignin``).
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from accord.tenants import service as tenant_service
from accord.tenants.identity import service as identity_service
from accord.tenants.identity.authenticate import authenticate
from accord.tenants.identity.devissuer import DEV_ISSUER
from accord.tenants.identity.principal import PrincipalKind, Unauthenticated
from accord.web import session
from accord.web.core import form_with_csrf, web_of
from accord.web.security import SIGN_IN_CONTENT_SECURITY_POLICY

log = logging.getLogger("accord.web")

CLIENT_ID = "accord-web"
SCOPE = "openid"
DISCOVERY_TIMEOUT = 5.0
NOT_CONFIGURED = "This organisation has no sign-in Accord can use."


@dataclass(frozen=True, slots=True)
class Endpoints:
    issuer: str
    authorization: str
    token: str
    #: the development issuer answers in this very app (no network hop)
    in_app: bool = False


def _next_path(value: str | None) -> str:
    """Where to go after sign-in: a path of this site only."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


async def sign_in_page(request: Request, *, problem: str | None = None) -> Response:
    web = web_of(request)
    if await session.signed_in(request, web.jwks) is not None and problem is None:
        return RedirectResponse(_next_path(request.query_params.get("next")), status_code=303)
    return web.render(
        request,
        "signin.html",
        401 if problem else 200,
        headers={"content-security-policy": SIGN_IN_CONTENT_SECURITY_POLICY},
        next=_next_path(request.query_params.get("next")),
        problem=problem,
        user=None,
    )


async def start_sign_in(request: Request) -> Response:
    form = await form_with_csrf(request)
    if isinstance(form, Response):
        return form
    tenant = form.get("organisation", "").strip().lower()
    endpoints = await _endpoints(request, tenant)
    if endpoints is None:
        return await sign_in_page(request, problem=NOT_CONFIGURED)
    verifier, state = generate_token(64), generate_token(32)
    url = prepare_grant_uri(
        endpoints.authorization,
        client_id=CLIENT_ID,
        response_type="code",
        redirect_uri=str(request.url_for("auth_callback")),
        scope=SCOPE,
        state=state,
        code_challenge=create_s256_code_challenge(verifier),
        code_challenge_method="S256",
        login_hint=tenant or None,
    )
    session.remember_pending(
        request,
        {
            "state": state,
            "verifier": verifier,
            "tenant": tenant,
            "issuer": endpoints.issuer,
            "token_endpoint": endpoints.token,
            "in_app": "1" if endpoints.in_app else "",
            "next": _next_path(form.get("next")),
        },
    )
    log.info("sign-in started for %s at %s", tenant or "(any)", endpoints.issuer)
    return RedirectResponse(url, status_code=303)


async def callback(request: Request) -> Response:
    web = web_of(request)
    pending = session.take_pending(request)
    state = request.query_params.get("state", "")
    code = request.query_params.get("code")
    if pending is None or not hmac.compare_digest(pending["state"].encode(), state.encode()):
        return await sign_in_page(request, problem="The sign-in was not started here, or expired.")
    if not code:
        reason = request.query_params.get("error", "no code")
        return await sign_in_page(request, problem=f"The issuer did not sign you in ({reason}).")
    body = prepare_token_request(
        "authorization_code",
        redirect_uri=str(request.url_for("auth_callback")),
        code=code,
        client_id=CLIENT_ID,
        code_verifier=pending["verifier"],
    )
    transport = httpx.ASGITransport(app=request.app) if pending["in_app"] else None
    try:
        async with httpx.AsyncClient(transport=transport, timeout=DISCOVERY_TIMEOUT) as client:
            answer = await client.post(
                pending["token_endpoint"],
                content=body,
                headers={
                    "content-type": "application/x-www-form-urlencoded",
                    "accept": "application/json",
                },
            )
        token = answer.json() if answer.status_code == 200 else {}
    except (httpx.HTTPError, ValueError) as exc:
        log.info("token exchange failed: %s", exc)
        token = {}
    if not isinstance(token, dict) or not token.get("access_token"):
        return await sign_in_page(request, problem="The issuer refused the sign-in.")
    access_token = str(token.get("access_token", ""))
    try:
        principal = await authenticate(
            token=access_token, runtime=request.app.state.runtime, jwks=web.jwks
        )
    except Unauthenticated:
        return await sign_in_page(request, problem="Accord does not accept that sign-in.")
    wrong_tenant = pending["tenant"] and principal.tenant != pending["tenant"]
    if principal.kind is not PrincipalKind.USER or wrong_tenant:
        return await sign_in_page(request, problem="That account is no member of the organisation.")
    session.start(request, token=access_token, principal=principal)
    return RedirectResponse(pending["next"] or "/", status_code=303)


async def sign_out(request: Request) -> Response:
    form = await form_with_csrf(request)
    if isinstance(form, Response):
        return form
    session.end(request)
    return RedirectResponse("/signin", status_code=303)


async def _endpoints(request: Request, tenant: str) -> Endpoints | None:
    """The organisation's issuer's endpoints, or None (unknown, or no usable issuer)."""
    web = web_of(request)
    if web.production:
        dev = None
    else:
        dev = Endpoints(
            issuer=DEV_ISSUER,
            authorization=str(request.url_for("dev_authorize")),
            token=str(request.url_for("dev_token")),
            in_app=True,
        )
    if not tenant:
        return dev
    async with request.app.state.runtime.control_session() as s:
        found = await tenant_service.find(session=s, slug=tenant)
        if found is None or found.status != "active":
            return None
        providers = await identity_service.list_providers(session=s, tenant=found)
    for provider in providers:
        if provider.issuer == DEV_ISSUER:
            if dev is not None:
                return dev
            continue
        discovered = await _discover(provider.issuer, production=web.production)
        if discovered is not None:
            return discovered
    return None


async def _discover(issuer: str, *, production: bool) -> Endpoints | None:
    """The issuer's OpenID configuration (its authorization and token endpoints): https, or
    outside production an issuer on loopback (a local IdP)."""
    parts = urlsplit(issuer)
    local = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (local and not production):
        return None
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        async with httpx.AsyncClient(timeout=DISCOVERY_TIMEOUT) as client:
            response = await client.get(url)
            response.raise_for_status()
            document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("OpenID discovery of %s failed: %s", issuer, exc)
        return None
    authorization = document.get("authorization_endpoint")
    token = document.get("token_endpoint")
    if document.get("issuer") != issuer or not isinstance(authorization, str):
        return None
    if not isinstance(token, str):
        return None
    return Endpoints(issuer=issuer, authorization=authorization, token=token)
