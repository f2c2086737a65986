"""GraphiQL served from installed packages: it works offline and under a CSP with no inline script.

GraphiQL, React and React DOM come from the ``graphene-django-graphiql-static`` wheel (its
static files only; nothing of Django is imported). The page and the script that starts
GraphiQL are Accord's own, beside this module. Nothing is fetched from a CDN.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

ASSET_PACKAGE = "graphene_django_graphiql_static"
PREFIX = "/graphql/ide"
#: Served file name → (where it comes from, media type).
ASSETS: dict[str, tuple[str, str]] = {
    "react.production.min.js": ("package", "text/javascript"),
    "react-dom.production.min.js": ("package", "text/javascript"),
    "graphiql.min.js": ("package", "text/javascript"),
    "graphiql.min.css": ("package", "text/css"),
    "start.js": ("accord", "text/javascript"),
    "ide.css": ("accord", "text/css"),
}
# GraphiQL's editors set style attributes, hence 'unsafe-inline' for styles only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def _source(name: str) -> Traversable:
    origin, _ = ASSETS[name]
    if origin == "package":
        return resources.files(ASSET_PACKAGE) / "static" / ASSET_PACKAGE / name
    return resources.files(__name__) / name


@cache
def _asset_bytes(name: str) -> bytes:
    return _source(name).read_bytes()


def ide_page() -> HTMLResponse:
    """The page GraphiQL runs in (what ``GET /graphql`` answers a browser in dev)."""
    html = (resources.files(__name__) / "page.html").read_text(encoding="utf-8")
    return HTMLResponse(
        html.replace("{prefix}", PREFIX),
        headers={
            "content-security-policy": CONTENT_SECURITY_POLICY,
            "x-content-type-options": "nosniff",
            "cache-control": "no-store",
        },
    )


async def _asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        return Response("Not Found", status_code=404, media_type="text/plain")
    return Response(
        _asset_bytes(name),
        media_type=ASSETS[name][1],
        headers={"x-content-type-options": "nosniff", "cache-control": "public, max-age=3600"},
    )


def ide_routes() -> list[Route]:
    """Routes of GraphiQL's scripts and styles; mounted only where GraphiQL is on (dev)."""
    return [Route(PREFIX + "/{name}", _asset, methods=["GET"])]
