"""Sharing agreements: lifecycle, validation, effective grants and the grantor's access log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from accord.platform.errors import BadInput, Conflict, Forbidden
from accord.platform.runtime import Runtime
from accord.tenants.agreements import service as agreements
from accord.tenants.agreements.access import read_access_log, write_access_log
from accord.tenants.agreements.models import SharingLevel
from accord.tenants.models import Tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import SECOND_STORE, TenantFactory


async def _active(
    runtime: Runtime, grantor: Tenant, grantee: Tenant, level: str = "full", **kwargs: object
) -> agreements.Agreement:  # type: ignore[name-defined]
    async with runtime.control_session() as session:
        agreement = await agreements.propose(
            session=session,
            grantor=grantor.slug,
            grantee=grantee.slug,
            record_types=kwargs.pop("record_types", ["finding", "capa"]),  # type: ignore[arg-type]
            level=level,
            purpose="Supplier quality 2027: the auditor needs the records",
            proposed_by="user:anna.keller",
            **kwargs,  # type: ignore[arg-type]
        )
        await agreements.accept(
            session=session, agreement_id=agreement.id, tenant=grantee.slug, actor="user:b"
        )
        await agreements.activate(
            session=session, agreement_id=agreement.id, tenant=grantor.slug, actor="user:a"
        )
        return agreement


async def _grants(
    runtime: Runtime, grantee: Tenant, record_type: str = "finding"
) -> list[agreements.Grant]:
    async with runtime.control_session() as session:
        return await agreements.grants_for(
            session=session, grantee=grantee.slug, record_type=record_type
        )


async def test_active_only_once_both_parties_agreed_and_revocation_is_immediate(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    globex, northwind = await make_tenant(SECOND_STORE, label="gx"), await make_tenant(label="nw")
    async with runtime.control_session() as session:
        proposed = await agreements.propose(
            session=session,
            grantor=globex.slug,
            grantee=northwind.slug,
            record_types=["finding"],
            level="full",
            purpose="audit",
            proposed_by="user:x",
        )
        await agreements.accept(
            session=session, agreement_id=proposed.id, tenant=northwind.slug, actor="u"
        )
        assert proposed.state == "proposed"
    assert await _grants(runtime, northwind) == []

    async with runtime.control_session() as session:
        activated = await agreements.activate(
            session=session, agreement_id=proposed.id, tenant=globex.slug, actor="u"
        )
        assert activated.state == "active"
    grants = await _grants(runtime, northwind)
    assert [(g.grantor, g.level) for g in grants] == [(globex.slug, SharingLevel.FULL)]
    assert await _grants(runtime, northwind, "risk") == []

    async with runtime.control_session() as session:
        await agreements.revoke(
            session=session,
            agreement_id=proposed.id,
            tenant=northwind.slug,
            actor="u",
            reason="done",
        )
    assert await _grants(runtime, northwind) == []


async def test_only_the_right_party_may_act(runtime: Runtime, make_tenant: TenantFactory) -> None:
    a, b, c = [await make_tenant(label=x) for x in "abc"]
    async with runtime.control_session() as session:
        agreement = await agreements.propose(
            session=session,
            grantor=a.slug,
            grantee=b.slug,
            record_types=["kpi"],
            level="summary",
            purpose="KPIs",
            proposed_by="user:x",
        )
        with pytest.raises(Forbidden) as not_grantee:
            await agreements.accept(
                session=session, agreement_id=agreement.id, tenant=a.slug, actor="u"
            )
        with pytest.raises(Forbidden) as not_grantor:
            await agreements.activate(
                session=session, agreement_id=agreement.id, tenant=b.slug, actor="u"
            )
        with pytest.raises(Forbidden) as stranger:
            await agreements.revoke(
                session=session, agreement_id=agreement.id, tenant=c.slug, actor="u", reason="x"
            )
    assert not_grantee.value.reason == "NOT_GRANTEE"
    assert not_grantor.value.reason == "NOT_GRANTOR"
    assert stranger.value.reason == "NOT_A_PARTY"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"grantee": "self"}, "SELF_GRANT"),
        ({"record_types": ["payroll"]}, "UNKNOWN_RECORD_TYPE"),
        ({"record_types": []}, "UNKNOWN_RECORD_TYPE"),
        ({"level": "everything"}, "BAD_LEVEL"),
        ({"level": "aggregate"}, "MIN_GROUP_SIZE_REQUIRED"),
        ({"level": "aggregate", "min_group_size": 1}, "MIN_GROUP_SIZE_REQUIRED"),
        ({"valid_until": datetime(2020, 1, 1, tzinfo=UTC)}, "BAD_VALIDITY"),
        ({"purpose": "  "}, "PURPOSE_REQUIRED"),
    ],
)
async def test_bad_agreements_are_refused_and_nothing_is_stored(
    runtime: Runtime, make_tenant: TenantFactory, kwargs: dict[str, object], reason: str
) -> None:
    a, b = await make_tenant(label="ba"), await make_tenant(label="bb")
    values: dict[str, object] = {
        "grantor": a.slug,
        "grantee": b.slug,
        "record_types": ["finding"],
        "level": "full",
        "purpose": "audit",
        "proposed_by": "user:x",
    }
    values.update(kwargs)
    if values["grantee"] == "self":
        values["grantee"] = a.slug
    async with runtime.control_session() as session:
        with pytest.raises(BadInput) as info:
            await agreements.propose(session=session, **values)  # type: ignore[arg-type]
        assert info.value.reason == reason
        assert list(await agreements.list_for(session=session, tenant=a.slug)) == []


async def test_expiry_and_best_level_are_derived(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    grantor, grantee = await make_tenant(label="ex"), await make_tenant(label="ey")
    past = datetime.now(UTC) - timedelta(days=2)
    expired = await _active(
        runtime, grantor, grantee, valid_from=past, valid_until=past + timedelta(days=1)
    )
    assert expired.effective_state(datetime.now(UTC)) == "expired"
    assert await _grants(runtime, grantee) == []

    await _active(runtime, grantor, grantee, level="summary")
    await _active(runtime, grantor, grantee, level="aggregate", min_group_size=3)
    assert [g.level for g in await _grants(runtime, grantee)] == [SharingLevel.SUMMARY]
    await _active(runtime, grantor, grantee, level="full")
    assert [g.level for g in await _grants(runtime, grantee)] == [SharingLevel.FULL]


async def test_revoking_twice_is_a_conflict(runtime: Runtime, make_tenant: TenantFactory) -> None:
    grantor, grantee = await make_tenant(label="r1"), await make_tenant(label="r2")
    agreement = await _active(runtime, grantor, grantee)
    async with runtime.control_session() as session:
        await agreements.revoke(
            session=session, agreement_id=agreement.id, tenant=grantor.slug, actor="u", reason="end"
        )
        with pytest.raises(Conflict):
            await agreements.revoke(
                session=session,
                agreement_id=agreement.id,
                tenant=grantor.slug,
                actor="u",
                reason="x",
            )


async def test_access_log_is_the_grantors_own_and_append_only(
    runtime: Runtime, make_tenant: TenantFactory
) -> None:
    grantor, grantee = await make_tenant(SECOND_STORE, label="lg"), await make_tenant(label="lr")
    await _active(runtime, grantor, grantee, level="summary")
    grants = await _grants(runtime, grantee)
    rows = agreements.access_entries(
        grants=[(grants[0], 17)],
        grantee=grantee.slug,
        principal=f"{grantee.slug}/anna",
        request_id="req-1",
    )
    await write_access_log(runtime, rows)

    async with tenant_session(runtime, grantor.slug) as session:
        log = await read_access_log(session=session)
    assert [(e.grantee, e.record_type, e.level, e.records, e.request_id) for e in log] == [
        (grantee.slug, "finding", "summary", 17, "req-1")
    ]
    neighbour = await make_tenant(SECOND_STORE, label="ln")  # same server as the grantor
    with pytest.raises(DBAPIError, match="permission denied"):
        async with tenant_session(runtime, neighbour.slug) as session:
            await session.execute(text(f'select * from "t_{grantor.slug}".access_log'))
    # The grantee's store is another server: the grantor's schema is not even there.
    with pytest.raises(DBAPIError, match="does not exist"):
        async with tenant_session(runtime, grantee.slug) as session:
            await session.execute(text(f'select * from "t_{grantor.slug}".access_log'))
    with pytest.raises(DBAPIError, match="permission denied"):
        async with tenant_session(runtime, grantor.slug) as session:
            await session.execute(text(f'delete from "t_{grantor.slug}".access_log'))
