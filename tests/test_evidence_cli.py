"""``accord evidence``: a file filed on a finding from the command line, with the API's checks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from accord.compliance.workflow import service as finding_workflow
from accord.platform.runtime import Runtime
from accord.tenants.sessions import tenant_session
from tests.conftest import TenantFactory
from tests.factories.cli import accord
from tests.factories.evidence_api import pdf_bytes
from tests.factories.records import AUDITOR, finding_input


async def test_evidence_is_uploaded_listed_and_downloaded(
    runtime: Runtime, make_tenant: TenantFactory, tmp_path: Path
) -> None:
    tenant = await make_tenant(label="evcli")
    async with tenant_session(runtime, tenant.slug) as session:
        finding = await finding_workflow.raise_finding(
            session=session, data=finding_input(reference="CLI-EV-1"), actor=AUDITOR
        )
    certificate = tmp_path / "Calibration certificate.pdf"
    certificate.write_bytes(pdf_bytes())
    filed = accord(
        "evidence", "upload", str(certificate), "--tenant", tenant.slug,
        "--finding", "CLI-EV-1", "--actor", "user:li", "--json",
    )  # fmt: skip
    assert filed.returncode == 0, filed.stderr
    evidence = json.loads(filed.stdout)
    assert evidence["finding_id"] == str(finding.id)
    assert evidence["media_type"] == "application/pdf"
    assert evidence["sha256"] == hashlib.sha256(certificate.read_bytes()).hexdigest()
    assert evidence["filename"] == "Calibration certificate.pdf"

    listed = accord("evidence", "list", "--tenant", tenant.slug, "--finding", "CLI-EV-1", "--json")
    assert [e["id"] for e in json.loads(listed.stdout)] == [evidence["id"]]
    copy = tmp_path / "copy.pdf"
    fetched = accord(
        "evidence", "download", evidence["id"], "--tenant", tenant.slug, "--output", str(copy)
    )
    assert fetched.returncode == 0, fetched.stderr
    assert copy.read_bytes() == certificate.read_bytes()

    page = tmp_path / "evidence.pdf"
    page.write_text("<html><script>alert(1)</script></html>")
    refused = accord(
        "evidence", "upload", str(page), "--tenant", tenant.slug, "--finding", "CLI-EV-1"
    )
    assert refused.returncode == 2
    assert "BAD_USER_INPUT/EVIDENCE_TYPE_NOT_ALLOWED" in refused.stderr
    listed = accord("evidence", "list", "--tenant", tenant.slug, "--json")
    assert len(json.loads(listed.stdout)) == 1
