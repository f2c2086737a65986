"""Evidence over HTTP: uploaded as a GraphQL multipart request, kept in the owner's store,
served as an attachment, and enough to close a joint audit's finding.

``lead`` audits ``audited`` (second store) under an agreed protocol that requires a PDF;
``observer`` holds a ``summary`` grant, ``stranger`` none. The audited tenant's quality
manager (li) responds and files evidence, the lead's quality manager (maria) runs the
audit, its auditor (jonas) verifies.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from accord.app import create_app
from accord.compliance.capa import service as capa_service
from accord.compliance.evidence.models import Evidence, EvidenceContent
from accord.compliance.findings import service as finding_service
from accord.platform.clock import today
from accord.platform.eventlog import EventLogEntry, verify_chain
from accord.platform.settings import Settings
from accord.policies import service as policy_service
from accord.tenants.agreements.access import read_access_log
from accord.tenants.models import Tenant
from accord.tenants.sessions import tenant_session
from tests.conftest import SECOND_STORE, TenantFactory
from tests.factories.api import global_id, payload, served
from tests.factories.audit_api import PLAN, RAISE, RESPOND, TRANSITION, VERIFY, record_id
from tests.factories.evidence_api import (
    EVIDENCE_ITEMS,
    joint_audit_matrix,
    office_bytes,
    pdf_bytes,
    png_bytes,
    upload,
    uploaded,
)
from tests.factories.records import capa_input, snapshot
from tests.factories.sharing import grant
from tests.graphql.conftest import Api, new_process


@dataclass(frozen=True)
class Network:
    lead: Tenant
    audited: Tenant
    observer: Tenant
    stranger: Tenant
    process: str
    maria: str
    jonas: str
    li: str
    priya: str
    eve: str


@pytest.fixture
async def net(api: Api, make_tenant: TenantFactory) -> AsyncIterator[Network]:
    lead = await make_tenant(label="lead")
    audited = await make_tenant(SECOND_STORE, label="audited")
    observer = await make_tenant(label="obs")
    stranger = await make_tenant(label="str")
    types = ["audit", "finding", "capa", "evidence"]
    await grant(api.runtime, audited.slug, lead.slug, "full", record_types=types)
    await grant(api.runtime, audited.slug, observer.slug, "summary", record_types=types)
    process = new_process()
    name = await api.import_matrix(
        joint_audit_matrix(process, lead.slug, audited.slug, observer.slug)
    )
    yield Network(
        lead,
        audited,
        observer,
        stranger,
        process,
        maria=await api.sign_in(lead, "maria", "quality_manager"),
        jonas=await api.sign_in(lead, "jonas", "auditor"),
        li=await api.sign_in(audited, "li", "quality_manager"),
        priya=await api.sign_in(observer, "priya", "viewer"),
        eve=await api.sign_in(stranger, "eve", "quality_manager"),
    )
    async with api.runtime.control_session() as session:
        await policy_service.delete_matrix(session=session, name=name)


async def raise_finding(api: Api, net: Network, reference: str, grade: str) -> str:
    """A joint audit at ``audited`` requiring a PDF to close, and one finding of it."""
    plan = {
        "auditedTenant": net.audited.slug,
        "leadAuditor": "maria",
        "programme": "Supplier quality 2027",
        "title": "Joint audit of the Dayton plant",
        "scope": "Measuring equipment",
        "clauseKeys": ["iso9001:2015/7.1.5"],
        "windowStart": str(today() - timedelta(days=1)),
        "windowEnd": str(today() + timedelta(days=5)),
        "status": "IN_PROGRESS",
        "protocol": {"process": net.process, "requiredEvidenceTypes": ["application/pdf"]},
    }
    audit = payload(await api.post(PLAN, {"input": plan}, token=net.maria), "planJointAudit")
    assert audit["errors"] == [], audit
    finding = {
        "reference": reference,
        "title": "Calibration overdue",
        "grade": grade,
        "severity": "MEDIUM",
        "clauseKeys": ["iso9001:2015/7.1.5"],
        "criteria": "ISO 9001:2015 7.1.5.2",
        "condition": "Two torque wrenches past their calibration date.",
        "raisedAt": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
    }
    variables = {"auditId": audit["audit"]["id"], "input": finding}
    raised = payload(await api.post(RAISE, variables, token=net.maria), "raiseAuditFinding")
    assert raised["errors"] == [], raised
    fid: str = raised["finding"]["id"]
    return fid


def codes(result: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["code"], e["reason"]) for e in result["errors"]]


async def move(api: Api, token: str, fid: str, target: str, process: str) -> dict[str, Any]:
    variables = {"id": fid, "target": target, "process": process}
    return payload(await api.post(TRANSITION, variables, token=token), "transitionFinding")


async def test_a_finding_closes_with_evidence_uploaded_through_the_api(
    api: Api, net: Network
) -> None:
    audited = net.audited.slug
    fid = await raise_finding(api, net, "GLX-CAL-1", "MINOR_NONCONFORMITY")
    respond = {"id": fid, "response": "Wrenches recalled.", "process": net.process}
    responded = payload(await api.post(RESPOND, respond, token=net.li), "respondToFinding")
    assert responded["errors"] == [] and responded["finding"]["state"] == "RESPONDED"

    # The CAPA work is not what this test is about: done through the services.
    async with tenant_session(api.runtime, audited) as session:
        finding = await finding_service.get_finding(session=session, finding_id=record_id(fid))
        capa = await capa_service.create_capa(
            session=session, data=capa_input(finding.id), actor=f"user:{audited}/li"
        )
        (action,) = await capa_service.list_actions(session=session, capa=capa)
    capa_gid = global_id(f"Capa:{audited}:{capa.id}")
    assert (await move(api, net.li, fid, "CAPA_PLANNED", net.process))["errors"] == []

    # li shows the action done with a photo of the recalibrated wrench
    photo = png_bytes()
    variables = {"capaId": capa_gid, "capaActionId": str(action.id), "process": net.process}
    shown = uploaded(
        await upload(
            api.client, net.li, variables, photo, filename="wrench.png", content_type="image/png"
        )
    )
    assert shown["errors"] == [], shown
    assert shown["evidence"]["capaActionId"] == str(action.id)
    assert shown["evidence"]["mediaType"] == "image/png"
    async with tenant_session(api.runtime, audited) as session:
        await capa_service.complete_action(
            session=session,
            action=await capa_service.get_action(session=session, action_id=action.id),
            actor=f"user:{audited}/li",
        )
    assert (await move(api, net.li, fid, "CAPA_IMPLEMENTED", net.process))["errors"] == []
    assert (await move(api, net.maria, fid, "VERIFICATION", net.process))["errors"] == []
    verified = payload(
        await api.post(VERIFY, {"id": fid, "result": "PASSED"}, token=net.jonas),
        "verifyAuditFinding",
    )
    assert verified["errors"] == [], verified

    # The protocol wants a PDF: the photo is not enough.
    early = await move(api, net.maria, fid, "CLOSED", net.process)
    assert codes(early) == [("CONFLICT", "EVIDENCE_TYPE_MISSING")]

    # li files the calibration certificate on the finding; the name it gives is cleaned.
    certificate = pdf_bytes()
    digest = hashlib.sha256(certificate).hexdigest()
    filed = uploaded(
        await upload(
            api.client,
            net.li,
            {"findingId": fid, "process": net.process, "title": "Calibration certificate"},
            certificate,
            filename="..\\..\\etc\\Cal\u202ecertificate  2026.pdf",
            content_type="image/gif",  # the client's word counts for nothing
        )
    )
    assert filed["errors"] == [], filed
    evidence = filed["evidence"]
    assert evidence["tenant"] == audited and evidence["level"] == "FULL"
    assert evidence["mediaType"] == "application/pdf"
    assert evidence["sha256"] == digest
    assert evidence["sizeBytes"] == str(len(certificate))  # BigInt travels as a string
    assert evidence["filename"] == "Calcertificate 2026.pdf"
    assert evidence["uploadedBy"] == f"user:{audited}/li"
    assert evidence["downloadPath"] == f"/evidence/{evidence['id']}/content"

    closed = await move(api, net.maria, fid, "CLOSED", net.process)
    assert closed["errors"] == [], closed
    assert closed["finding"] == {"state": "CLOSED", "closedBy": f"user:{net.lead.slug}/maria"}

    # A closed finding takes no more evidence.
    late = uploaded(
        await upload(api.client, net.li, {"findingId": fid, "process": net.process}, pdf_bytes())
    )
    assert codes(late) == [("CONFLICT", "FINDING_CLOSED")]

    # The bytes are in the audited tenant's own store, once, and the event log binds them.
    async with tenant_session(api.runtime, audited) as session:
        stored = await session.get(EvidenceContent, digest)
        assert stored is not None and stored.content == certificate
        added = (
            await session.scalars(
                select(EventLogEntry).where(EventLogEntry.action == "evidence.added")
            )
        ).all()
        assert sorted(e.change["sha256"] for e in added) == sorted(
            [digest, hashlib.sha256(photo).hexdigest()]
        )
        assert (await verify_chain(session)).ok

    # Downloads: the owner and the full grantee get the file as an attachment.
    path = evidence["downloadPath"]
    for token, query in ((net.li, ""), (net.jonas, f"?process={net.process}")):
        response = await api.client.get(path + query, headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        assert response.content == certificate
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-disposition"].startswith(
            'attachment; filename="Calcertificate 2026.pdf"'
        )
        assert response.headers["cache-control"] == "private, no-store"
    async with tenant_session(api.runtime, audited) as session:
        log = await read_access_log(session=session)
    assert [(e.grantee, e.record_type, e.level) for e in log[:1]] == [
        (net.lead.slug, "evidence", "full")
    ]

    # The summary grantee sees that evidence exists, never the file; a stranger sees nothing.
    listing = await api.post(
        EVIDENCE_ITEMS,
        {"filter": {"tenants": [audited]}, "process": net.process},
        token=net.priya,
    )
    nodes = [e["node"] for e in listing["data"]["evidenceItems"]["edges"]]
    assert {n["level"] for n in nodes} == {"SUMMARY"} and len(nodes) == 2
    assert all(n["filename"] is n["sha256"] is n["downloadPath"] is None for n in nodes)
    withheld = await api.client.get(
        path + f"?process={net.process}", headers={"authorization": f"Bearer {net.priya}"}
    )
    assert withheld.status_code == 403
    assert withheld.json()["errors"][0]["extensions"]["reason"] == "EVIDENCE_WITHHELD"
    for token in (net.eve, None):
        headers = {"authorization": f"Bearer {token}"} if token else {}
        hidden = await api.client.get(path, headers=headers)
        assert hidden.status_code == (404 if token else 401)
        assert certificate not in hidden.content


async def test_bad_files_are_refused_and_nothing_is_written(api: Api, net: Network) -> None:
    fid = await raise_finding(api, net, "GLX-BAD-1", "OBSERVATION")
    finding = {"findingId": fid, "process": net.process}
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(range(256))
    unknown_capa = global_id(f"Capa:{net.audited.slug}:{uuid.uuid4()}")
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    macros = office_bytes("word/document.xml", "word/vbaProject.bin")
    refused_type = "EVIDENCE_TYPE_NOT_ALLOWED"
    cases: list[tuple[dict[str, Any], bytes, str, str]] = [
        (finding, exe, "report.pdf", refused_type),
        (finding, b"<!DOCTYPE html><script>x()</script>", "notes.txt", refused_type),
        (finding, b"<svg onload=alert(1)>", "chart.png", refused_type),
        (finding, office_bytes("other.xml"), "sheet.xlsx", refused_type),
        (finding, macros, "memo.docx", refused_type),
        (finding, b"", "empty.pdf", "EVIDENCE_EMPTY"),
        ({**finding, "capaId": unknown_capa}, pdf_bytes(), "a.pdf", "ONE_TARGET"),
        ({**finding, "capturedAt": tomorrow}, pdf_bytes(), "a.pdf", "CAPTURED_AFTER_UPLOAD"),
        ({"findingId": "not-an-id"}, pdf_bytes(), "a.pdf", "BAD_ID"),
    ]
    async with tenant_session(api.runtime, net.audited.slug) as session:
        before = await snapshot(session)
    for variables, content, name, reason in cases:
        refused = uploaded(
            await upload(
                api.client, net.li, variables, content, filename=name, content_type="image/png"
            )
        )
        assert refused["evidence"] is None
        assert codes(refused) == [("BAD_USER_INPUT", reason)], (name, refused)
    async with tenant_session(api.runtime, net.audited.slug) as session:
        assert await snapshot(session) == before

    # What the allow-list takes, recognised from the bytes whatever the name says; the
    # name kept ends as the bytes are.
    docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    register = b"date;gauge;due\n2026-11-01;TW-4;2027-05-01\n"
    for content, name, media_type, kept_as in (
        (register, "register.csv", "text/csv", "register.csv"),
        (b"Checked by the night shift.\n", "note", "text/plain", "note.txt"),
        (office_bytes("word/document.xml"), "memo.bin", docx, "memo.bin.docx"),
        (office_bytes("xl/workbook.xml"), "sheet.xlsx", xlsx, "sheet.xlsx"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "photo.png", "image/jpeg", "photo.png.jpg"),
    ):  # fmt: skip
        kept = uploaded(await upload(api.client, net.li, finding, content, filename=name))
        assert kept["errors"] == [], kept
        assert (kept["evidence"]["mediaType"], kept["evidence"]["filename"]) == (
            media_type,
            kept_as,
        )


async def test_who_may_not_file_on_the_finding_learns_nothing_and_changes_nothing(
    api: Api, net: Network
) -> None:
    fid = await raise_finding(api, net, "GLX-SEE-1", "OBSERVATION")
    made_up = global_id(f"Finding:{net.audited.slug}:{uuid.uuid4()}")
    async with tenant_session(api.runtime, net.audited.slug) as session:
        before = await snapshot(session)

    # A stranger: the finding answers exactly as one that does not exist.
    answers = [
        uploaded(await upload(api.client, net.eve, {"findingId": gid}, pdf_bytes()))
        for gid in (fid, made_up)
    ]
    assert answers[0] == answers[1]
    assert codes(answers[0]) == [("NOT_FOUND", "FINDING_NOT_FOUND")]
    async with tenant_session(api.runtime, net.audited.slug) as session:
        assert await snapshot(session) == before

    # The observer may read the finding but files nothing on it: refused, and only the
    # refused attempt is kept in the owner's log.
    observed = uploaded(
        await upload(api.client, net.priya, {"findingId": fid, "process": net.process}, pdf_bytes())
    )
    assert codes(observed) == [("FORBIDDEN", "ACTION_DENIED")]
    async with tenant_session(api.runtime, net.audited.slug) as session:
        after = await snapshot(session)
        assert after["evidence"] == before["evidence"]
        assert after["evidence_content"] == before["evidence_content"]
        refused = (
            await session.scalars(
                select(EventLogEntry).where(EventLogEntry.action == "finding.refused")
            )
        ).all()
    assert [(e.actor, e.change["attempt"], e.change["reason"]) for e in refused] == [
        (f"user:{net.observer.slug}/priya", "upload_evidence", "ACTION_DENIED")
    ]

    # Without a sign-in, nothing at all.
    anonymous = await upload(api.client, None, {"findingId": fid}, pdf_bytes())
    body = anonymous.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def stream_upload(
    port: int, token: str, variables: dict[str, Any], *, chunks: int
) -> tuple[bytes, int, int]:
    """Send an upload of ``chunks`` × 64 KiB over a raw connection, chunk by chunk, while
    reading the answer; stop sending once the status line is in. (status, chunks sent,
    chunks there were)."""
    operations = json.dumps(
        {
            "query": "mutation($input: UploadEvidenceInput!) "
            "{ uploadEvidence(input: $input) { errors { reason } } }",
            "variables": {"input": {**variables, "file": None}},
        }
    )
    head = (
        f'--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{operations}\r\n'
        '--x\r\nContent-Disposition: form-data; name="map"\r\n\r\n'
        '{"0": ["variables.input.file"]}\r\n'
        '--x\r\nContent-Disposition: form-data; name="0"; filename="big.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n%PDF-1.4\n"
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        ).encode()
    )
    status = asyncio.create_task(reader.readline())
    sent = 0

    def chunk(data: bytes) -> bytes:
        return b"%x\r\n" % len(data) + data + b"\r\n"

    writer.write(chunk(head))
    try:
        for _ in range(chunks):
            if status.done():
                break
            writer.write(chunk(b"%" * (64 * 1024)))
            await writer.drain()
            sent += 1
            await asyncio.sleep(0.001)
        line = await asyncio.wait_for(status, timeout=10)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return line.split()[1], sent, chunks


async def test_a_file_over_the_limit_is_refused_while_it_streams(
    api: Api, net: Network, settings: Settings
) -> None:
    fid = await raise_finding(api, net, "GLX-BIG-1", "OBSERVATION")
    limit = 64 * 1024
    small = settings.model_copy(update={"evidence_max_bytes": limit})
    app = create_app(small, runtime=dataclasses.replace(api.runtime, settings=small))
    async with (
        served(app) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        # Just over the limit, within the request envelope: refused by the resolver.
        variables = {"findingId": fid, "process": net.process}
        over = pdf_bytes() + b"%" * limit
        refused = uploaded(await upload(client, net.li, variables, over))
        assert codes(refused) == [("BAD_USER_INPUT", "EVIDENCE_TOO_LARGE")]
        # A declared length over the limit: answered before a byte of the body is sent.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            (
                "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {net.li}\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\n"
                f"Content-Length: {50 * 1024 * 1024}\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=10)
        writer.close()
        await writer.wait_closed()
        assert status_line.split()[1] == b"413"

        # A chunked body of 32 MiB: the refusal comes back while it is still being
        # sent, once the bytes received pass the limit.
        status, sent, total = await stream_upload(port, net.li, variables, chunks=512)
        assert status == b"413"
        assert sent < total
    async with tenant_session(api.runtime, net.audited.slug) as session:
        count = await session.scalar(select(func.count()).select_from(Evidence))
        assert count == 0
        assert await session.scalar(select(func.count()).select_from(EvidenceContent)) == 0
