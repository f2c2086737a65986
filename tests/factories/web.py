"""The web application for tests: its forms' CSRF tokens, and signing in as a person through
the development issuer's authorization endpoint (the browser's path, with an HTTP client)."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import httpx

from accord.platform.runtime import Runtime
from accord.platform.settings import Settings
from accord.tenants import service as tenant_service
from accord.tenants.identity.devissuer import register_dev_issuer
from accord.tenants.models import Tenant

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "the page has no form with a CSRF token"
    return html.unescape(found.group(1))


def hidden_fields(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}


async def add_person(
    runtime: Runtime, settings: Settings, tenant: Tenant, subject: str, *roles: str
) -> None:
    """A member of ``tenant`` whose organisation trusts the development issuer."""
    async with runtime.control_session() as session:
        await tenant_service.add_member(
            session=session,
            tenant=tenant,
            subject=subject,
            display_name=subject.replace(".", " ").title(),
            roles=roles or ("quality_manager",),
        )
        await register_dev_issuer(session=session, tenant=tenant, settings=settings)


def _path(location: str) -> str:
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def sign_in(client: httpx.AsyncClient, tenant: str, subject: str) -> httpx.Response:
    """Sign ``client`` in as ``tenant``/``subject``; the page the sign-in lands on."""
    page = await client.get("/signin")
    started = await client.post(
        "/signin", data={"csrf": csrf_of(page.text), "organisation": tenant, "next": "/"}
    )
    assert started.status_code == 303, started.text
    chooser = await client.get(_path(started.headers["location"]))
    assert chooser.status_code == 200, chooser.text
    fields = hidden_fields(chooser.text)
    picked = await client.post(
        "/dev-issuer/authorize", data={**fields, "person": f"{tenant}/{subject}"}
    )
    assert picked.status_code == 303, picked.text
    landed = await client.get(_path(picked.headers["location"]))
    assert landed.status_code == 303, landed.text
    return await client.get(_path(landed.headers["location"]))
