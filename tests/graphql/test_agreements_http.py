"""Agreements over HTTP: proposed, accepted by the grantee only, activated by the grantor
only, revoked by either (holding from the next request), and ending by themselves when
time-boxed; every refusal coded, nothing written, the steps in both parties' logs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accord.platform import clock
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.policies import service as policy_service
from accord.tenants.agreements.models import Agreement
from accord.tenants.agreements.service import grants_for
from accord.tenants.models import Tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import SECOND_STORE, TenantFactory
from tests.factories.api import payload
from tests.graphql.conftest import Api, follow_findings, new_process, raise_findings

FIELDS = "id role grantor grantee recordTypes level minGroupSize purpose state validUntil"
PROPOSE = f"""
mutation($input: ProposeAgreementInput!) {{
  proposeAgreement(input: $input) {{
    agreement {{ {FIELDS} }}
    errors {{ field code reason }}
  }}
}}
"""
ACCEPT = f"""
mutation($id: UUID!) {{
  acceptAgreement(id: $id) {{ agreement {{ {FIELDS} }} errors {{ field code reason }} }}
}}
"""
ACTIVATE = f"""
mutation($id: UUID!) {{
  activateAgreement(id: $id) {{ agreement {{ {FIELDS} }} errors {{ field code reason }} }}
}}
"""
REVOKE = f"""
mutation($id: UUID!, $reason: String!) {{
  revokeAgreement(id: $id, reason: $reason) {{
    agreement {{ {FIELDS} endReason }}
    errors {{ field code reason }}
  }}
}}
"""
LIST = f"query($role: AgreementRole) {{ agreements(role: $role) {{ {FIELDS} }} }}"
PARTNER_FINDINGS = """
query($tenants: [String!], $process: String) {
  findings(first: 50, filter: {tenants: $tenants}, process: $process) {
    edges { node { id tenant level } }
  }
}
"""


@dataclass(frozen=True)
class Parties:
    globex: Tenant
    northwind: Tenant
    meridian: Tenant
    gx: str  # globex quality manager
    gx_viewer: str
    nw: str  # northwind quality manager
    md: str  # meridian quality manager
    process: str  # in which northwind's quality managers are Informed of globex's findings


@pytest.fixture
async def parties(api: Api, make_tenant: TenantFactory) -> AsyncIterator[Parties]:
    globex = await make_tenant(SECOND_STORE, label="gx")
    northwind = await make_tenant(label="nw")
    meridian = await make_tenant(label="md")
    await raise_findings(api.runtime, globex.slug, 2)
    process = new_process()
    name = await api.import_matrix(follow_findings(process, globex.slug, northwind.slug))
    yield Parties(
        globex,
        northwind,
        meridian,
        gx=await api.sign_in(globex, "li", "quality_manager"),
        gx_viewer=await api.sign_in(globex, "pat", "viewer"),
        nw=await api.sign_in(northwind, "maria", "quality_manager"),
        md=await api.sign_in(meridian, "dana", "quality_manager"),
        process=process,
    )
    async with api.runtime.control_session() as session:
        await policy_service.delete_matrix(session=session, name=name)


def codes(result: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    return [(e["field"], e["code"], e["reason"]) for e in result["errors"]]


async def act(api: Api, document: str, token: str, name: str, **variables: Any) -> dict[str, Any]:
    return payload(await api.post(document, variables, token=token), name)


async def visible(api: Api, token: str, owner: str, process: str) -> int:
    body = await api.post(PARTNER_FINDINGS, {"tenants": [owner], "process": process}, token=token)
    return len(body["data"]["findings"]["edges"])


async def agreements_in_control(api: Api) -> int:
    async with api.runtime.control_session() as session:
        return int(await session.scalar(select(func.count()).select_from(Agreement)) or 0)


def proposal(p: Parties, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "grantee": p.northwind.slug,
        "recordTypes": ["finding"],
        "level": "FULL",
        "purpose": "Joint audit of the Dayton plant: the auditor needs every finding.",
    }
    values.update(overrides)
    return values


async def test_an_agreement_is_proposed_accepted_activated_and_revoked(
    api: Api, parties: Parties
) -> None:
    p = parties
    gx, nw = p.globex.slug, p.northwind.slug
    assert await visible(api, p.nw, gx, p.process) == 0
    before = await agreements_in_control(api)

    # -- refusals: coded, and nothing written
    later = (clock.now() - timedelta(days=1)).isoformat()
    bad = "BAD_USER_INPUT"
    for token, overrides, expected in (
        (p.gx_viewer, {}, (None, "FORBIDDEN", "ACTION_DENIED")),
        (p.md, {"grantor": gx}, ("grantee", "FORBIDDEN", "NOT_A_PARTY")),
        (p.gx, {"recordTypes": ["payroll"]}, ("recordTypes", bad, "UNKNOWN_RECORD_TYPE")),
        (p.gx, {"level": "AGGREGATE"}, ("minGroupSize", bad, "MIN_GROUP_SIZE_REQUIRED")),
        (p.gx, {"minGroupSize": 3}, ("minGroupSize", "BAD_USER_INPUT", "BAD_LEVEL")),
        (p.gx, {"validUntil": later}, ("validUntil", "BAD_USER_INPUT", "BAD_VALIDITY")),
        (p.gx, {"grantee": gx}, ("grantee", "BAD_USER_INPUT", "SELF_GRANT")),
    ):  # fmt: skip
        refused = await act(api, PROPOSE, token, "proposeAgreement", input=proposal(p, **overrides))
        assert refused["agreement"] is None and codes(refused) == [expected], overrides
    assert await agreements_in_control(api) == before

    proposed = await act(api, PROPOSE, p.gx, "proposeAgreement", input=proposal(p))
    assert proposed["errors"] == []
    agreement = proposed["agreement"]
    assert (agreement["role"], agreement["state"], agreement["level"]) == (
        "GRANTOR",
        "PROPOSED",
        "FULL",
    )
    aid = agreement["id"]

    # -- only the grantee accepts, only the grantor activates; outsiders find nothing
    for token, document, name, expected in (
        (p.gx, ACCEPT, "acceptAgreement", (None, "FORBIDDEN", "NOT_GRANTEE")),
        (p.nw, ACTIVATE, "activateAgreement", (None, "FORBIDDEN", "NOT_GRANTOR")),
        (p.md, ACCEPT, "acceptAgreement", ("id", "NOT_FOUND", "UNKNOWN_AGREEMENT")),
        (p.md, REVOKE, "revokeAgreement", ("id", "NOT_FOUND", "UNKNOWN_AGREEMENT")),
    ):
        variables = {"id": aid, "reason": "no"} if document is REVOKE else {"id": aid}
        refused = await act(api, document, token, name, **variables)
        assert codes(refused) == [expected], (name, refused)
    accepted = await act(api, ACCEPT, p.nw, "acceptAgreement", id=aid)
    assert (accepted["agreement"]["role"], accepted["agreement"]["state"]) == (
        "GRANTEE",
        "PROPOSED",
    )
    assert await visible(api, p.nw, gx, p.process) == 0  # not yet activated by the grantor
    activated = await act(api, ACTIVATE, p.gx, "activateAgreement", id=aid)
    assert activated["agreement"]["state"] == "ACTIVE"
    again = await act(api, ACCEPT, p.nw, "acceptAgreement", id=aid)
    assert codes(again) == [(None, "CONFLICT", "INVALID_AGREEMENT_STATE")]

    # -- incoming and outgoing
    incoming = (await api.post(LIST, {"role": "GRANTEE"}, token=p.nw))["data"]["agreements"]
    outgoing = (await api.post(LIST, {"role": "GRANTOR"}, token=p.gx))["data"]["agreements"]
    assert [a["id"] for a in incoming] == [aid] == [a["id"] for a in outgoing]
    assert (await api.post(LIST, {}, token=p.md))["data"]["agreements"] == []

    # -- in force: northwind reads globex's findings, in full
    assert await visible(api, p.nw, gx, p.process) == 2

    # -- revoked by the grantor: the very next request reads nothing
    revoked = await act(
        api, REVOKE, p.gx, "revokeAgreement", id=aid, reason="The audit is complete."
    )
    assert revoked["agreement"]["state"] == "REVOKED"
    assert revoked["agreement"]["endReason"] == "The audit is complete."
    assert await visible(api, p.nw, gx, p.process) == 0

    # -- each step in both parties' logs
    for slug in (gx, nw):
        async with tenant_session(api.runtime, slug) as session:
            steps = await session.scalars(
                select(EventLogEntry)
                .where(EventLogEntry.record_type == "agreement", EventLogEntry.record_id == aid)
                .order_by(EventLogEntry.seq)
            )
            assert [(e.action, e.actor) for e in steps] == [
                ("agreement.proposed", f"user:{gx}/li"),
                ("agreement.accepted", f"user:{nw}/maria"),
                ("agreement.activated", f"user:{gx}/li"),
                ("agreement.revoked", f"user:{gx}/li"),
            ]
            assert (await verify_chain(session)).ok


async def test_a_time_boxed_agreement_ends_by_itself(
    api: Api, make_tenant: TenantFactory, fixed_clock: clock.FixedClock
) -> None:
    globex = await make_tenant(SECOND_STORE, label="gx")
    northwind = await make_tenant(label="nw")
    await raise_findings(api.runtime, globex.slug, 1)
    gx = await api.sign_in(globex, "li", "quality_manager")
    nw = await api.sign_in(northwind, "maria", "quality_manager")
    until = fixed_clock.at + timedelta(minutes=5)
    variables = {
        "grantee": northwind.slug,
        "recordTypes": ["finding", "capa"],
        "level": "AGGREGATE",
        "minGroupSize": 3,
        "purpose": "Benchmarking for the quarter.",
        "validUntil": until.isoformat(),
    }
    proposed = await act(
        api, PROPOSE, nw, "proposeAgreement", input={**variables, "grantor": globex.slug}
    )
    assert proposed["errors"] == []  # the grantee may propose too
    aid = proposed["agreement"]["id"]
    assert proposed["agreement"]["minGroupSize"] == 3
    assert (await act(api, ACCEPT, nw, "acceptAgreement", id=aid))["errors"] == []
    assert (await act(api, ACTIVATE, gx, "activateAgreement", id=aid))["errors"] == []
    incoming = (await api.post(LIST, {"role": "GRANTEE"}, token=nw))["data"]["agreements"]
    assert [(a["state"], a["level"]) for a in incoming] == [("ACTIVE", "AGGREGATE")]
    async with api.runtime.control_session() as session:
        assert await _grantors(session, northwind.slug) == [globex.slug]

    fixed_clock.advance(timedelta(minutes=6))
    incoming = (await api.post(LIST, {"role": "GRANTEE"}, token=nw))["data"]["agreements"]
    assert [a["state"] for a in incoming] == ["EXPIRED"]
    async with api.runtime.control_session() as session:
        assert await _grantors(session, northwind.slug) == []


async def _grantors(session: AsyncSession, grantee: str) -> list[str]:
    """Whose findings ``grantee`` may read now (the plan every read starts from)."""
    return [
        g.grantor for g in await grants_for(session=session, grantee=grantee, record_type="finding")
    ]
