"""Evidence: hashed artefacts on findings, CAPA or clauses; every bad input refused."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accord.compliance.capa import service as capa_service
from accord.compliance.evidence import service as evidence_service
from accord.compliance.findings import service as finding_service
from accord.compliance.workflow import service as finding_workflow
from accord.platform.errors import BadInput, Conflict
from accord.platform.eventlog import verify_chain
from accord.platform.runtime import Runtime
from accord.tenants.models import Tenant
from accord.tenants.sessions import tenant_session
from tests.factories.records import (
    ACTOR,
    AUDITOR,
    assert_refused,
    capa_input,
    events,
    evidence_input,
    finding_input,
)

pytestmark = pytest.mark.usefixtures("synced_catalog")


@pytest.fixture(scope="module")
async def finding_id(runtime: Runtime, tenant: Tenant) -> uuid.UUID:
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await finding_workflow.raise_finding(
            session=session, data=finding_input(), actor=AUDITOR
        )
        return finding.id


async def test_evidence_is_stored_normalised_and_logged(
    runtime: Runtime, tenant: Tenant, finding_id: uuid.UUID
) -> None:
    digest = secrets.token_hex(32).upper()
    captured = datetime(2026, 11, 3, 9, 30, tzinfo=UTC)
    data = evidence_input(
        finding_id=finding_id,
        sha256=digest,
        media_type="Image/JPEG",
        captured_at=captured,
        clause_keys=["iso9001:2015/8.4.1"],
    )
    async with tenant_session(runtime, tenant.slug) as session:
        evidence = await evidence_service.add_evidence(session=session, data=data, actor=ACTOR)
    async with tenant_session(runtime, tenant.slug) as session:
        stored = await evidence_service.get_evidence(session=session, evidence_id=evidence.id)
        log = await events(session, evidence.id)
        assert (await verify_chain(session)).ok
    assert stored.sha256 == digest.lower() and stored.media_type == "image/jpeg"
    assert stored.captured_at == captured and stored.uploaded_at > captured
    assert stored.uploaded_by == ACTOR and stored.content_hash is None
    assert [e.action for e in log] == ["evidence.added"]
    assert log[0].change["sha256"] == digest.lower()


def bad(override: dict[str, Any], reason: str, field: str, name: str) -> Any:
    return pytest.param(override, reason, field, id=name)


LATER = datetime.now(UTC) + timedelta(days=1)
BAD_EVIDENCE = [
    bad({"sha256": "abc123"}, "BAD_HASH", "sha256", "short-hash"),
    bad({"sha256": "g" * 64}, "BAD_HASH", "sha256", "not-hex"),
    bad({"sha256": "a" * 65}, "BAD_HASH", "sha256", "long-hash"),
    bad({"media_type": "pdf"}, "BAD_MEDIA_TYPE", "media_type", "no-subtype"),
    bad({"media_type": "application/"}, "BAD_MEDIA_TYPE", "media_type", "empty-subtype"),
    bad({"media_type": "text/plain; charset=utf-8"}, "BAD_MEDIA_TYPE", "media_type", "params"),
    bad({"media_type": "document/pdf"}, "BAD_MEDIA_TYPE", "media_type", "unregistered-type"),
    bad({"media_type": "image/" + "x" * 128}, "BAD_MEDIA_TYPE", "media_type", "too-long"),
    bad({"size_bytes": -1}, "NEGATIVE_SIZE", "size_bytes", "negative-size"),
    bad({"uri": "register-q3.pdf"}, "BAD_URI", "uri", "relative-uri"),
    bad({"captured_at": datetime(2026, 11, 3, 9, 30)}, "INVALID_VALUE", "captured_at", "naive"),
    bad({"captured_at": LATER}, "CAPTURED_AFTER_UPLOAD", "captured_at", "captured-later"),
    bad({"clause_keys": ["iso9001:2015/4.9"]}, "UNKNOWN_CLAUSE", "clause_keys", "bad-clause"),
    bad({"finding_id": None}, "EVIDENCE_UNATTACHED", "finding_id", "unattached"),
    bad({"finding_id": uuid.uuid4()}, "UNKNOWN_FINDING", "finding_id", "unknown-finding"),
    bad({"capa_id": uuid.uuid4()}, "UNKNOWN_CAPA", "capa_id", "unknown-capa"),
    bad({"source_system": "sharepoint"}, "EXTERNAL_ID_REQUIRED", "external_id", "no-ext-id"),
]


@pytest.mark.parametrize(("override", "reason", "field"), BAD_EVIDENCE)
async def test_bad_evidence_is_refused_and_writes_nothing(
    runtime: Runtime,
    tenant: Tenant,
    finding_id: uuid.UUID,
    override: dict[str, Any],
    reason: str,
    field: str,
) -> None:
    async def attempt(session: AsyncSession) -> object:
        data = evidence_input(**{"finding_id": finding_id, **override})
        return await evidence_service.add_evidence(session=session, data=data, actor=ACTOR)

    await assert_refused(runtime, tenant.slug, attempt, error=BadInput, reason=reason, field=field)


async def test_provenance_is_unique(
    runtime: Runtime, tenant: Tenant, finding_id: uuid.UUID
) -> None:
    source = {"source_system": "sharepoint", "external_id": f"doc-{secrets.token_hex(3)}"}
    async with tenant_session(runtime, tenant.slug) as session:
        await evidence_service.add_evidence(
            session=session, data=evidence_input(finding_id=finding_id, **source), actor=ACTOR
        )

    async def again(session: AsyncSession) -> object:
        data = evidence_input(finding_id=finding_id, **source)
        return await evidence_service.add_evidence(session=session, data=data, actor=ACTOR)

    await assert_refused(
        runtime, tenant.slug, again, error=Conflict, reason="DUPLICATE_RECORD", field="external_id"
    )


async def test_evidence_on_clauses_and_on_capa_is_found_again(
    runtime: Runtime, tenant: Tenant, finding_id: uuid.UUID
) -> None:
    clause = "iso14001:2015/9.1.1"
    async with tenant_session(runtime, tenant.slug) as session:
        on_clause = await evidence_service.add_evidence(
            session=session,
            data=evidence_input(title="Emission readings", clause_keys=[clause]),
            actor=ACTOR,
        )
        capa = await capa_service.create_capa(
            session=session, data=capa_input(finding_id), actor=ACTOR
        )
        on_capa = await evidence_service.add_evidence(
            session=session, data=evidence_input(capa_id=capa.id), actor=ACTOR
        )
        finding = await finding_service.get_finding(session=session, finding_id=finding_id)
        for_clause = await evidence_service.for_clauses(session=session, keys=[clause])
        for_finding = await evidence_service.for_finding(session=session, finding=finding)
    assert [e.id for e in for_clause] == [on_clause.id]
    assert on_capa.id in {e.id for e in for_finding}
    assert on_clause.id not in {e.id for e in for_finding}


async def test_the_database_checks_hash_and_media_type_too(
    runtime: Runtime, tenant: Tenant
) -> None:
    """The CHECK constraints hold even for a writer that bypasses the service."""
    statement = text(
        f'insert into "t_{tenant.slug}".evidence (id, title, sha256, media_type, size_bytes, '
        "captured_at, uploaded_at, uploaded_by, uri, clause_keys, source_system, created_by, "
        "updated_by) values (:id, 't', :sha, :media, 1, now(), now(), 'x', 'https://x/y', "
        "array['iso9001:2015/8.4'], 'accord', 'x', 'x')"
    )
    for sha, media in (("xyz", "application/pdf"), ("a" * 64, "PDF")):
        with pytest.raises(IntegrityError, match="ck_evidence_"):
            async with tenant_session(runtime, tenant.slug) as session:
                await session.execute(statement, {"id": uuid.uuid4(), "sha": sha, "media": media})
