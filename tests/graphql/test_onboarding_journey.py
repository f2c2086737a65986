"""A new partner joins from nothing and reads a partner's shared records, no demo seeding:
both organisations are created with ``accord tenant create --admin --issuer`` against their
own OIDC providers (loopback, real discovery, JWKS and token endpoints), their admins sign
in with their IdPs' tokens and add members over GraphQL, the supplier raises a finding,
the agreement is made with ``accord agreement``, and the new partner's member reads it
over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import unique_slug
from tests.factories.api import FINDINGS, RAISE, payload, raise_input
from tests.factories.cli import accord
from tests.factories.oidc import AUDIENCE, OidcProvider, Realm, oidc_provider, password_token
from tests.graphql.conftest import Api, follow_findings, new_process

ADD_MEMBER = """
mutation($input: AddMemberInput!) {
  addMember(input: $input) { member { subject roles } errors { code reason } }
}"""
ME = "query { me { tenant subject kind roles } }"


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[OidcProvider]:
    async with oidc_provider() as served:
        yield served


async def _cli(*args: str) -> str:
    # In a thread: the command's discovery calls the IdP served by this event loop.
    done = await asyncio.to_thread(accord, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def _create_partner(realm: Realm, slug: str, admin: str, name: str) -> dict[str, Any]:
    realm.users[admin] = ("admin-pw", slug)
    created = await _cli(
        *("tenant", "create", slug, "--name", name, "--jurisdiction", "DE"),
        *("--admin", admin, "--issuer", realm.issuer, "--audience", AUDIENCE, "--json"),
    )
    data: dict[str, Any] = json.loads(created)
    return data


async def _add_member(api: Api, admin_token: str, subject: str, roles: list[str]) -> None:
    body = await api.post(
        ADD_MEMBER,
        {"input": {"subject": subject, "displayName": subject, "roles": roles}},
        token=admin_token,
    )
    assert payload(body, "addMember")["errors"] == []


async def _finding_titles(api: Api, token: str, process: str | None = None) -> set[tuple[str, str]]:
    body = await api.post(FINDINGS, {"first": 50, "process": process}, token=token)
    edges = payload(body, "findings")["edges"]
    return {(e["node"]["owningTenant"]["slug"], e["node"]["title"]) for e in edges}


async def test_a_partner_created_from_nothing_reads_a_partners_shared_findings(
    api: Api, provider: OidcProvider
) -> None:
    newco, supplier = unique_slug("newco"), unique_slug("supplier")
    newco_idp, supplier_idp = provider.realm("RS256"), provider.realm("ES256")

    created = await _create_partner(newco_idp, newco, "root@newco.example", "NewCo GmbH")
    assert (created["slug"], created["status"]) == (newco, "active")
    await _create_partner(supplier_idp, supplier, "root@supplier.example", "Supplier AG")
    listed = json.loads(await _cli("idp", "list", "--tenant", newco, "--json"))
    assert [(i["issuer"], i["jwks_uri"]) for i in listed] == [
        (newco_idp.issuer, newco_idp.jwks_uri)
    ]

    # Each admin signs in at its own IdP and adds a quality manager.
    newco_admin = await password_token(newco_idp, "root@newco.example", "admin-pw")
    me = (await api.post(ME, token=newco_admin))["data"]["me"]
    assert me == {
        "tenant": newco,
        "subject": "root@newco.example",
        "kind": "USER",
        "roles": ["tenant_admin"],
    }
    supplier_admin = await password_token(supplier_idp, "root@supplier.example", "admin-pw")
    await _add_member(api, newco_admin, "lea@newco.example", ["quality_manager"])
    await _add_member(api, supplier_admin, "sam@supplier.example", ["quality_manager"])
    newco_idp.users["lea@newco.example"] = ("lea-pw", newco)
    supplier_idp.users["sam@supplier.example"] = ("sam-pw", supplier)

    sam = await password_token(supplier_idp, "sam@supplier.example", "sam-pw")
    raised = await api.post(
        RAISE, {"input": raise_input(title="Torque wrench uncalibrated")}, token=sam
    )
    assert payload(raised, "raiseFinding")["errors"] == []

    lea = await password_token(newco_idp, "lea@newco.example", "lea-pw")
    assert await _finding_titles(api, lea) == set()

    # The supplier shares its findings with the new partner under an agreement, and the
    # shared process names who follows them.
    proposed = json.loads(
        await _cli(
            *("agreement", "propose", "--grantor", supplier, "--grantee", newco),
            *("--types", "finding", "--level", "full", "--json"),
            *("--purpose", "Supplier quality: onboarding a new customer"),
        )
    )
    await _cli("agreement", "accept", proposed["id"], "--tenant", newco)
    await _cli("agreement", "activate", proposed["id"], "--tenant", supplier)
    process = new_process()
    await api.import_matrix(follow_findings(process, supplier, newco))

    assert await _finding_titles(api, lea, process) == {(supplier, "Torque wrench uncalibrated")}
    # A member of neither tenant's IdP gets nothing: newco's IdP cannot vouch for supplier.
    forged = newco_idp.token("sam@supplier.example", supplier)
    refused = await api.client.post(
        "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {forged}"}
    )
    assert refused.status_code == 401
