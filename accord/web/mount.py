"""The one ``Mount`` that ``accord.app`` serves the web application under: pages, sign-in,
static files, with security headers and the session cookie."""

from __future__ import annotations

import json
import uuid

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from accord.graphql.cursors import CursorSigner
from accord.graphql.relay import GlobalId
from accord.platform.settings import Settings
from accord.web import session
from accord.web.core import SCOPE_KEY, Web
from accord.web.gateway import Gateway, Result
from accord.web.routes import routes
from accord.web.security import SecurityHeaders


class _Provide:
    def __init__(self, app: ASGIApp, *, web: Web) -> None:
        self.app, self.web = app, web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope[SCOPE_KEY] = self.web
        await self.app(scope, receive, send)


def web_mount(settings: Settings, *, cursors: CursorSigner) -> Mount:
    """Every page, the sign-in, and the static files, under ``/``."""
    templates = Environment(
        loader=PackageLoader("accord.web", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    web = Web(
        settings=settings,
        gateway=Gateway(cursors=cursors, production=settings.env == "prod"),
        templates=templates,
    )
    templates.globals["operation_text"] = _operation_text
    templates.globals["global_id"] = _global_id
    return Mount(
        "",
        routes=[
            Mount("/static", StaticFiles(packages=[("accord.web", "static")]), name="static"),
            *routes(production=web.production),
        ],
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(_Provide, web=web),
            Middleware(
                SessionMiddleware,
                secret_key=session.session_secret(settings),
                session_cookie=session.COOKIE,
                max_age=int(session.LIFETIME.total_seconds()),
                same_site="lax",
                https_only=settings.env == "prod",
            ),
        ],
    )


def _global_id(type_name: str, tenant: str, record_id: str) -> str:
    """The API's global id of a record named by its UUID (links from a record to another)."""
    return str(GlobalId(type_name, tenant, uuid.UUID(record_id)).encode())


def _operation_text(result: Result) -> str:
    text = result.operation.document.strip()
    if result.variables:
        text += "\n\n# variables\n" + json.dumps(result.variables, indent=2)
    return text
