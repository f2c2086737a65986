"""What every handler shares: the ``Web`` (templates, gateway, JWKS cache, settings),
found through ``web_of(request)``, and the two checks every page and form makes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jinja2 import Environment
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from accord.platform.settings import Settings
from accord.tenants.identity.jwks import JwksCache
from accord.tenants.identity.principal import Principal
from accord.web import session
from accord.web.gateway import Gateway, Problem
from accord.web.security import CSRF_FIELD, csrf_token, csrf_valid

SCOPE_KEY = "accord.web"


@dataclass
class Web:
    settings: Settings
    gateway: Gateway
    templates: Environment
    jwks: JwksCache = field(default_factory=JwksCache)
    #: authorization codes the development issuer handed out, by code
    dev_codes: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.settings.env == "prod"

    def render(
        self,
        request: Request,
        template: str,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        **values: Any,
    ) -> HTMLResponse:
        html = self.templates.get_template(template).render(
            request=request,
            csrf=csrf_token(request.session),
            csrf_field=CSRF_FIELD,
            dev=not self.production,
            **values,
        )
        return HTMLResponse(html, status_code=status_code, headers=headers)

    def refusal(
        self, request: Request, problems: list[Problem], *, user: Principal | None = None
    ) -> HTMLResponse:
        """A page saying, in plain words and with the API's code, why it is refused."""
        status = max((p.status for p in problems), default=500)
        return self.render(
            request, "error.html", status, user=user, problems=problems, hide_problems=True
        )


def web_of(conn: HTTPConnection) -> Web:
    web: Web = conn.scope[SCOPE_KEY]
    return web


async def signed_in_or_redirect(request: Request) -> Principal | Response:
    """The signed-in person; else a page asks for sign-in (401 for anything but a GET)."""
    web = web_of(request)
    principal = await session.signed_in(request, web.jwks)
    if principal is not None:
        return principal
    if request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={_quote(target)}", status_code=303)
    problem = Problem(code="UNAUTHENTICATED", message="No session")
    return web.refusal(request, [problem])


async def form_with_csrf(request: Request) -> dict[str, str] | Response:
    """The posted form, or a 403 page when its CSRF token does not match the session's."""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    if not csrf_valid(request.session, values.get(CSRF_FIELD)):
        problem = Problem(
            code="FORBIDDEN",
            message="The form's security token is missing or stale; reload the page and retry.",
        )
        return web_of(request).refusal(request, [problem])
    return values


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="")
