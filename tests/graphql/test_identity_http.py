"""A tenant admin onboards over the API: issuers by discovery, members, service accounts,
members' signing keys; bad input is a coded payload error with nothing written; a non-admin
and another tenant's admin learn nothing and change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from joserfc.jwk import ECKey, OKPKey
from sqlalchemy import select

from accord.platform.eventlog import EventLogEntry
from accord.tenants.identity import member_keys, members
from accord.tenants.identity.client_secrets import verify_secret
from accord.tenants.identity.models import ServiceAccount
from accord.tenants.sessions import tenant_session
from tests.conftest import TenantFactory
from tests.factories.api import payload
from tests.factories.oidc import (
    AUDIENCE,
    OidcProvider,
    client_credentials_token,
    oidc_provider,
    password_token,
)
from tests.graphql.conftest import Api
from tests.graphql.probes import changed, snapshot

REGISTER_IDP = """
mutation($input: RegisterIdentityProviderInput!) {
  registerIdentityProvider(input: $input) {
    identityProvider { issuer audience jwksUri algorithms discoveryUrl }
    errors { field code reason }
  }
}"""
REMOVE_IDP = """
mutation($issuer: String!) {
  removeIdentityProvider(issuer: $issuer) { removedIssuer errors { field code reason } }
}"""
ADD_MEMBER = """
mutation($input: AddMemberInput!) {
  addMember(input: $input) { member { subject displayName roles } errors { field code reason } }
}"""
CHANGE_ROLES = """
mutation($subject: String!, $roles: [String!]!) {
  changeMemberRoles(subject: $subject, roles: $roles) {
    member { subject roles } errors { field code reason }
  }
}"""
REMOVE_MEMBER = """
mutation($subject: String!) {
  removeMember(subject: $subject) { removedSubject errors { field code reason } }
}"""
CREATE_ACCOUNT = """
mutation($input: CreateServiceAccountInput!) {
  createServiceAccount(input: $input) {
    serviceAccount { clientId name hasSecret } clientSecret errors { field code reason }
  }
}"""
REVOKE_ACCOUNT = """
mutation($clientId: String!) {
  revokeServiceAccount(clientId: $clientId) { revokedClientId errors { field code reason } }
}"""
REGISTER_KEY = """
mutation($input: RegisterSigningKeyInput!) {
  registerSigningKey(input: $input) {
    signingKey { kid alg state notBefore notAfter } errors { field code reason }
  }
}"""
ROTATE_KEY = """
mutation($input: RotateSigningKeyInput!) {
  rotateSigningKey(input: $input) {
    retired { kid state notAfter } signingKey { kid state } errors { field code reason }
  }
}"""
REVOKE_KEY = """
mutation($kid: String!, $subject: String) {
  revokeSigningKey(kid: $kid, subject: $subject) {
    signingKey { kid state } errors { field code reason }
  }
}"""
MY_KEYS = """
query($all: Boolean!) { mySigningKeys(includeRevoked: $all) { kid alg state jwk } }"""
LISTS = """
query { members { subject roles } identityProviders { issuer } serviceAccounts { clientId } }"""
ME = "query { me { tenant subject kind roles } }"


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[OidcProvider]:
    async with oidc_provider() as served:
        yield served


def _errors(body: dict[str, Any], name: str) -> list[tuple[str, str]]:
    return [(e["code"], e["reason"]) for e in payload(body, name)["errors"]]


async def _actions(api: Api, slug: str) -> list[tuple[str, str]]:
    async with tenant_session(api.runtime, slug) as session:
        rows = await session.execute(
            select(EventLogEntry.action, EventLogEntry.record_id).order_by(EventLogEntry.seq)
        )
        return [(a, r) for a, r in rows if not a.startswith("tenant.")]


async def test_an_admin_onboards_an_issuer_and_its_members_sign_in(
    api: Api, make_tenant: TenantFactory, provider: OidcProvider
) -> None:
    tenant = await make_tenant(label="onb")
    admin = await api.sign_in(tenant, "root@onb.example", "tenant_admin")
    realm = provider.realm("ES256")
    realm.users["ines@onb.example"] = ("secret-pw", tenant.slug)

    body = await api.post(
        REGISTER_IDP, {"input": {"issuer": realm.issuer, "audience": AUDIENCE}}, token=admin
    )
    registered = payload(body, "registerIdentityProvider")
    assert registered["errors"] == []
    assert registered["identityProvider"]["jwksUri"] == realm.jwks_uri
    assert registered["identityProvider"]["algorithms"] == ["ES256"]

    added = await api.post(
        ADD_MEMBER,
        {
            "input": {
                "subject": "ines@onb.example",
                "displayName": "Inès Quality",
                "roles": ["quality_manager"],
            }
        },
        token=admin,
    )
    assert payload(added, "addMember")["member"]["roles"] == ["quality_manager"]

    # Inès signs in at her organisation's IdP and calls Accord with its token.
    token = await password_token(realm, "ines@onb.example", "secret-pw")
    me = (await api.post(ME, token=token))["data"]["me"]
    assert me == {
        "tenant": tenant.slug,
        "subject": "ines@onb.example",
        "kind": "USER",
        "roles": ["quality_manager"],
    }

    changed_roles = await api.post(
        CHANGE_ROLES, {"subject": "ines@onb.example", "roles": ["viewer", "executive"]}, token=admin
    )
    assert payload(changed_roles, "changeMemberRoles")["member"]["roles"] == [
        "executive",
        "viewer",
    ]
    removed = await api.post(REMOVE_MEMBER, {"subject": "ines@onb.example"}, token=admin)
    assert payload(removed, "removeMember") == {"removedSubject": "ines@onb.example", "errors": []}
    refused = await api.client.post(
        "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 401

    gone = await api.post(REMOVE_IDP, {"issuer": realm.issuer}, token=admin)
    assert payload(gone, "removeIdentityProvider")["removedIssuer"] == realm.issuer
    lists = (await api.post(LISTS, token=admin))["data"]
    assert lists["identityProviders"] == [{"issuer": "urn:accord:dev-issuer"}]
    assert lists["members"] == [{"subject": "root@onb.example", "roles": ["tenant_admin"]}]

    actor = f"user:{tenant.slug}/root@onb.example"
    assert await _actions(api, tenant.slug) == [
        ("identity_provider.registered", realm.issuer),
        ("member.added", "ines@onb.example"),
        ("member.roles_changed", "ines@onb.example"),
        ("member.removed", "ines@onb.example"),
        ("identity_provider.removed", realm.issuer),
    ]
    async with tenant_session(api.runtime, tenant.slug) as session:
        actors = set(
            await session.scalars(
                select(EventLogEntry.actor).where(EventLogEntry.action.like("member.%"))
            )
        )
    assert actors == {actor}


async def test_bad_input_is_a_coded_error_and_writes_nothing(
    api: Api, make_tenant: TenantFactory, provider: OidcProvider
) -> None:
    tenant = await make_tenant(label="onbbad")
    admin = await api.sign_in(tenant, "root@bad.example", "tenant_admin")
    realm = provider.realm("RS256")
    realm.issuer_override = "https://elsewhere.example"
    cases: list[tuple[str, dict[str, Any], str, tuple[str, str]]] = [
        (
            REGISTER_IDP,
            {"input": {"issuer": realm.issuer, "audience": AUDIENCE}},
            "registerIdentityProvider",
            ("BAD_USER_INPUT", "ISSUER_MISMATCH"),
        ),
        (
            REGISTER_IDP,
            {"input": {"issuer": "ftp://idp.example", "audience": AUDIENCE}},
            "registerIdentityProvider",
            ("BAD_USER_INPUT", "BAD_ISSUER"),
        ),
        (
            ADD_MEMBER,
            {"input": {"subject": "x@bad.example", "displayName": "X", "roles": ["owner"]}},
            "addMember",
            ("BAD_USER_INPUT", "UNKNOWN_ROLE"),
        ),
        (
            ADD_MEMBER,
            {"input": {"subject": " x", "displayName": "X", "roles": ["viewer"]}},
            "addMember",
            ("BAD_USER_INPUT", "BAD_SUBJECT"),
        ),
        (
            ADD_MEMBER,
            {"input": {"subject": "root@bad.example", "displayName": "R", "roles": ["viewer"]}},
            "addMember",
            ("CONFLICT", "DUPLICATE_MEMBER"),
        ),
        (
            CHANGE_ROLES,
            {"subject": "root@bad.example", "roles": ["viewer"]},
            "changeMemberRoles",
            ("CONFLICT", "LAST_ADMIN"),
        ),
        (
            REMOVE_MEMBER,
            {"subject": "root@bad.example"},
            "removeMember",
            ("CONFLICT", "LAST_ADMIN"),
        ),
        (
            REMOVE_MEMBER,
            {"subject": "nobody@bad.example"},
            "removeMember",
            ("NOT_FOUND", "UNKNOWN_MEMBER"),
        ),
        (
            CREATE_ACCOUNT,
            {"input": {"clientId": "bad id with spaces", "name": "ERP"}},
            "createServiceAccount",
            ("BAD_USER_INPUT", "BAD_CLIENT_ID"),
        ),
        (
            REVOKE_ACCOUNT,
            {"clientId": "never-created"},
            "revokeServiceAccount",
            ("NOT_FOUND", "UNKNOWN_CLIENT_ID"),
        ),
        (
            REGISTER_KEY,
            {
                "input": {
                    "jwk": OKPKey.generate_key("Ed25519").as_dict(private=True),
                    "alg": "Ed25519",
                }
            },
            "registerSigningKey",
            ("BAD_USER_INPUT", "PRIVATE_KEY_MATERIAL"),
        ),
        (
            REGISTER_KEY,
            {
                "input": {
                    "jwk": ECKey.generate_key("P-256").as_dict(private=False),
                    "alg": "Ed25519",
                }
            },
            "registerSigningKey",
            ("BAD_USER_INPUT", "KEY_ALGORITHM_MISMATCH"),
        ),
    ]
    cases.append(
        (
            REGISTER_KEY,
            {"input": {"jwk": None, "alg": "Ed25519"}},
            "registerSigningKey",
            ("BAD_USER_INPUT", "BAD_JWK"),
        )
    )
    for query, variables, name, expected in cases:
        before = await snapshot(api.runtime, [tenant.slug])
        body = await api.post(query, variables, token=admin)
        assert _errors(body, name) == [expected], (name, variables)
        assert changed(before, await snapshot(api.runtime, [tenant.slug])) == [], name


async def test_service_accounts_get_a_secret_once_or_use_the_idp(
    api: Api, make_tenant: TenantFactory, provider: OidcProvider
) -> None:
    tenant = await make_tenant(label="onbsa")
    admin = await api.sign_in(tenant, "root@sa.example", "tenant_admin")
    client_id = f"erp-{tenant.slug}"
    body = await api.post(
        CREATE_ACCOUNT,
        {"input": {"clientId": client_id, "name": "SAP connector", "issueSecret": True}},
        token=admin,
    )
    created = payload(body, "createServiceAccount")
    assert created["serviceAccount"] == {
        "clientId": client_id,
        "name": "SAP connector",
        "hasSecret": True,
    }
    secret = created["clientSecret"]
    async with api.runtime.control_session() as session:
        stored = await session.get(ServiceAccount, client_id)
    assert stored is not None and stored.secret_hash is not None
    assert secret not in stored.secret_hash and verify_secret(secret, stored.secret_hash)
    assert not verify_secret(secret + "x", stored.secret_hash)

    # The tenant's IdP issues the client's tokens (client credentials, sub = client id).
    realm = provider.realm("RS256")
    realm.clients[client_id] = ("idp-secret", tenant.slug)
    await api.post(
        REGISTER_IDP, {"input": {"issuer": realm.issuer, "audience": AUDIENCE}}, token=admin
    )
    token = await client_credentials_token(realm, client_id, "idp-secret")
    me = (await api.post(ME, token=token))["data"]["me"]
    assert (me["subject"], me["kind"]) == (client_id, "SERVICE")

    revoked = await api.post(REVOKE_ACCOUNT, {"clientId": client_id}, token=admin)
    assert payload(revoked, "revokeServiceAccount")["revokedClientId"] == client_id
    again = await api.client.post(
        "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {token}"}
    )
    assert again.status_code == 401


async def test_members_manage_their_signing_keys_and_see_the_kid_to_sign_with(
    api: Api, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="onbkey")
    admin = await api.sign_in(tenant, "root@key.example", "tenant_admin")
    exec_token = await api.sign_in(tenant, "ceo@key.example", "executive")
    first = OKPKey.generate_key("Ed25519")
    body = await api.post(
        REGISTER_KEY,
        {"input": {"jwk": first.as_dict(private=False), "alg": "Ed25519"}},
        token=exec_token,
    )
    key = payload(body, "registerSigningKey")["signingKey"]
    assert (key["kid"], key["state"], key["notAfter"]) == (first.thumbprint(), "VALID", None)

    second = ECKey.generate_key("P-256")
    rotated = payload(
        await api.post(
            ROTATE_KEY,
            {
                "input": {
                    "kid": key["kid"],
                    "jwk": second.as_dict(private=False),
                    "alg": "ES256",
                    "overlapSeconds": 3600,
                }
            },
            token=exec_token,
        ),
        "rotateSigningKey",
    )
    assert rotated["errors"] == []
    assert rotated["retired"]["state"] == "RETIRING" and rotated["retired"]["notAfter"]
    assert rotated["signingKey"] == {"kid": second.thumbprint(), "state": "VALID"}
    listed = (await api.post(MY_KEYS, {"all": False}, token=exec_token))["data"]["mySigningKeys"]
    assert [(k["kid"], k["alg"], k["state"]) for k in listed] == [
        (first.thumbprint(), "Ed25519", "RETIRING"),
        (second.thumbprint(), "ES256", "VALID"),
    ]
    assert "d" not in listed[1]["jwk"]

    # The admin revokes the executive's new key (a lost laptop): it ends now.
    revoked = await api.post(
        REVOKE_KEY, {"kid": second.thumbprint(), "subject": "ceo@key.example"}, token=admin
    )
    assert payload(revoked, "revokeSigningKey")["signingKey"]["state"] == "REVOKED"
    everything = (await api.post(MY_KEYS, {"all": True}, token=exec_token))["data"]
    assert [k["state"] for k in everything["mySigningKeys"]] == ["RETIRING", "REVOKED"]
    # Another member may not revoke someone else's key.
    refused = await api.post(
        REVOKE_KEY, {"kid": first.thumbprint(), "subject": "root@key.example"}, token=exec_token
    )
    assert _errors(refused, "revokeSigningKey") == [("FORBIDDEN", "ACTION_DENIED")]


ATTEMPTS: list[tuple[str, str, dict[str, Any]]] = [
    (
        "registerIdentityProvider",
        REGISTER_IDP,
        {"input": {"issuer": "{issuer}", "audience": AUDIENCE}},
    ),
    ("removeIdentityProvider", REMOVE_IDP, {"issuer": "{issuer}"}),
    (
        "addMember",
        ADD_MEMBER,
        {"input": {"subject": "mallory", "displayName": "M", "roles": ["tenant_admin"]}},
    ),
    ("changeMemberRoles", CHANGE_ROLES, {"subject": "{victim}", "roles": ["viewer"]}),
    ("removeMember", REMOVE_MEMBER, {"subject": "{victim}"}),
    ("createServiceAccount", CREATE_ACCOUNT, {"input": {"clientId": "{client}", "name": "M"}}),
    ("revokeServiceAccount", REVOKE_ACCOUNT, {"clientId": "{client}"}),
    ("revokeSigningKey", REVOKE_KEY, {"kid": "{kid}", "subject": "{victim}"}),
]


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, str):
        return value.format(**names)
    return value


async def test_non_admins_and_other_tenants_learn_nothing_and_change_nothing(
    api: Api, make_tenant: TenantFactory, provider: OidcProvider
) -> None:
    ours, theirs = await make_tenant(label="onbv"), await make_tenant(label="onbx")
    our_admin = await api.sign_in(ours, "root@v.example", "tenant_admin")
    await api.sign_in(ours, "victim@v.example", "executive")
    quality = await api.sign_in(ours, "qm@v.example", "quality_manager", "admin")
    outsider = await api.sign_in(theirs, "root@x.example", "tenant_admin")
    realm = provider.realm("RS256")
    client = f"erp-{ours.slug}"
    payload(
        await api.post(
            CREATE_ACCOUNT, {"input": {"clientId": client, "name": "ERP"}}, token=our_admin
        ),
        "createServiceAccount",
    )
    victim_key = OKPKey.generate_key("Ed25519")
    payload(
        await api.post(
            REGISTER_IDP, {"input": {"issuer": realm.issuer, "audience": AUDIENCE}}, token=our_admin
        ),
        "registerIdentityProvider",
    )
    async with api.runtime.control_session() as session:
        victim = await members.get_member(session=session, tenant=ours, subject="victim@v.example")
        await member_keys.add_member_key(
            session=session, member=victim, jwk=victim_key.as_dict(private=False), alg="Ed25519"
        )
    real = {
        "issuer": realm.issuer,
        "victim": "victim@v.example",
        "client": client,
        "kid": victim_key.thumbprint(),
    }
    invented = {
        "issuer": f"{realm.base}/realms/nobody",
        "victim": "nobody@v.example",
        "client": "nobody-client",
        "kid": "nobody-kid",
    }
    for name, query, variables in ATTEMPTS:
        before = await snapshot(api.runtime, [ours.slug, theirs.slug])
        # A member without the admin role is refused before anything is looked up: the
        # answer for a real target and an invented one is the same.
        answers = [
            await api.post(query, _fill(variables, names), token=quality)
            for names in (real, invented)
        ]
        assert [_errors(a, name) for a in answers] == [[("FORBIDDEN", "ACTION_DENIED")]] * 2
        assert answers[0] == answers[1], name
        assert changed(before, await snapshot(api.runtime, [ours.slug, theirs.slug])) == []

    for name, query, variables in ATTEMPTS[1:]:
        if name in ("addMember", "createServiceAccount"):
            continue  # an admin elsewhere adds to its own tenant, never to ours
        before = await snapshot(api.runtime, [ours.slug])
        # Another organisation's admin acts on its own tenant only: our records do not
        # exist for it, real names or invented ones alike.
        answers = [
            await api.post(query, _fill(variables, names), token=outsider)
            for names in (real, invented)
        ]
        assert _errors(answers[0], name) == _errors(answers[1], name), name
        assert _errors(answers[0], name)[0][0] in ("NOT_FOUND", "FORBIDDEN"), name
        assert changed(before, await snapshot(api.runtime, [ours.slug])) == [], name
    lists = (await api.post(LISTS, token=outsider))["data"]
    assert [m["subject"] for m in lists["members"]] == ["root@x.example"]
    assert lists["serviceAccounts"] == []


async def test_a_service_account_with_a_secret_gets_tokens_from_accords_token_endpoint(
    api: Api, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="onbtok")
    admin = await api.sign_in(tenant, "root@tok.example", "tenant_admin")
    client_id, plain = f"etl-{tenant.slug}", f"idp-only-{tenant.slug}"
    created = payload(
        await api.post(
            CREATE_ACCOUNT,
            {"input": {"clientId": client_id, "name": "ETL", "issueSecret": True}},
            token=admin,
        ),
        "createServiceAccount",
    )
    secret = created["clientSecret"]
    payload(
        await api.post(CREATE_ACCOUNT, {"input": {"clientId": plain, "name": "P"}}, token=admin),
        "createServiceAccount",
    )
    form = {"grant_type": "client_credentials"}

    basic = await api.client.post("/oauth/token", data=form, auth=(client_id, secret))
    assert basic.status_code == 200, basic.text
    assert basic.headers["cache-control"] == "no-store"
    issued = basic.json()
    assert (issued["token_type"], issued["scope"], issued["expires_in"]) == ("Bearer", "sync", 900)
    me = (await api.post(ME, token=issued["access_token"]))["data"]["me"]
    assert me == {"tenant": tenant.slug, "subject": client_id, "kind": "SERVICE", "roles": []}
    posted = await api.client.post(
        "/oauth/token", data={**form, "client_id": client_id, "client_secret": secret}
    )
    assert posted.status_code == 200, posted.text

    refusals = [
        await api.client.post("/oauth/token", data=form, auth=(client_id, secret + "x")),
        await api.client.post("/oauth/token", data=form, auth=("nobody", secret)),
        await api.client.post("/oauth/token", data=form, auth=(plain, "")),
        await api.client.post("/oauth/token", data=form),
    ]
    assert [(r.status_code, r.json()["error"]) for r in refusals] == [(401, "invalid_client")] * 4
    assert len({r.text for r in refusals[:3]}) == 1
    wrong_grant = await api.client.post(
        "/oauth/token", data={"grant_type": "password"}, auth=(client_id, secret)
    )
    assert (wrong_grant.status_code, wrong_grant.json()["error"]) == (
        400,
        "unsupported_grant_type",
    )
    wider = await api.client.post(
        "/oauth/token", data={**form, "scope": "sync admin"}, auth=(client_id, secret)
    )
    assert (wider.status_code, wider.json()["error"]) == (400, "invalid_scope")

    payload(
        await api.post(REVOKE_ACCOUNT, {"clientId": client_id}, token=admin), "revokeServiceAccount"
    )
    after = await api.client.post(
        "/graphql",
        json={"query": ME},
        headers={"authorization": f"Bearer {issued['access_token']}"},
    )
    assert after.status_code == 401
    gone = await api.client.post("/oauth/token", data=form, auth=(client_id, secret))
    assert gone.status_code == 401
