"""Evidence over HTTP: real files of each kind, the upload as a GraphQL multipart request
(operations, map, file parts), and a joint audit whose RACI matrix covers evidence."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from typing import Any

import httpx

UPLOAD = """
mutation($input: UploadEvidenceInput!) {
  uploadEvidence(input: $input) {
    evidence {
      id tenant level findingId capaId capaActionId effectivenessCheck mediaType sizeBytes
      sha256 filename title uploadedBy downloadPath
    }
    errors { field code reason message }
  }
}
"""

EVIDENCE_ITEMS = """
query($filter: EvidenceFilter, $process: String) {
  evidenceItems(first: 20, filter: $filter, process: $process) {
    edges { node { id tenant level filename title sha256 mediaType downloadPath } }
  }
}
"""


def pdf_bytes(text: str = "Calibration certificate") -> bytes:
    """A small, well-formed one-page PDF."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def png_bytes(width: int = 2, height: int = 2) -> bytes:
    """A small, well-formed grey PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def office_bytes(main_part: str, *extra: str) -> bytes:
    """A zip container with the parts an Office Open XML package of that kind holds."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(main_part, "<document/>")
        for name in extra:
            archive.writestr(name, b"\x00")
    return buffer.getvalue()


async def upload(
    client: httpx.AsyncClient,
    token: str | None,
    variables: dict[str, Any],
    content: bytes,
    *,
    filename: str = "certificate.pdf",
    content_type: str = "application/pdf",
) -> httpx.Response:
    """POST ``uploadEvidence`` as a GraphQL multipart request, ``content`` as the file."""
    variables = {"input": {**variables, "file": None}}
    operations = json.dumps({"query": UPLOAD, "variables": variables})
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return await client.post(
        "/graphql",
        data={"operations": operations, "map": json.dumps({"0": ["variables.input.file"]})},
        files={"0": (filename, content, content_type)},
        headers=headers,
    )


def uploaded(response: httpx.Response) -> dict[str, Any]:
    """The ``uploadEvidence`` payload of a 200 answer."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["uploadEvidence"]
    return result


def joint_audit_matrix(process: str, lead: str, audited: str, observer: str) -> str:
    """The joint audit's RACI: the audited tenant's quality manager responds and does the
    CAPA work, the lead's auditors verify and close, the observer is informed; every
    party reads the evidence."""
    return f"""
name: Joint audit evidence {process}
process: {process}
owners: [{audited}]
parties: [role:{lead}/quality_manager, role:{lead}/auditor, role:{audited}/quality_manager,
          role:{observer}/viewer]
activities:
  - {{name: Plan the audit, record_type: audit, actions: [approve]}}
  - {{name: Respond and plan CAPA, record_type: finding,
      actions: [respond, propose_capa, complete_action]}}
  - {{name: Verify and close, record_type: finding, actions: [verify, close]}}
  - {{name: Read the evidence, record_type: evidence, actions: [read]}}
raci:
  Plan the audit:
    role:{lead}/quality_manager: A
    role:{audited}/quality_manager: C
    role:{observer}/viewer: I
  Respond and plan CAPA:
    role:{audited}/quality_manager: R
    role:{lead}/quality_manager: A
    role:{observer}/viewer: I
  Verify and close:
    role:{lead}/auditor: A
    role:{audited}/quality_manager: C
    role:{observer}/viewer: I
  Read the evidence:
    role:{audited}/quality_manager: R
    role:{lead}/auditor: I
    role:{lead}/quality_manager: A
    role:{observer}/viewer: I
"""
