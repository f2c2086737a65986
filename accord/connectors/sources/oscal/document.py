"""An OSCAL JSON document read from a path or URL, and its parts as flat records.

The mapping language addresses top-level keys of a record, so each finding, risk and
POA&M item becomes one flat dict of strings, lists of strings and nulls; the links OSCAL
keeps by uuid (observations, risks, parties) are resolved into it while the whole
document is at hand. Keys are the OSCAL names with ``_`` for ``-``. The document's
``last-modified`` is left out: a new version must not change its untouched records.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from accord.connectors.framework.errors import FatalError
from accord.connectors.framework.http import SourceClient
from accord.connectors.framework.state import Bookmark
from accord.connectors.framework.streams import Page

AR = "assessment-results"
POAM = "plan-of-action-and-milestones"
Record = dict[str, Any]
Node = Mapping[str, Any]


async def read_location(location: str, client: SourceClient) -> bytes:
    """The bytes at a local path (``file://`` optional) or an http(s) URL (with retries)."""
    if location.startswith(("http://", "https://")):
        return await client.get_bytes(location)
    try:
        return Path(location.removeprefix("file://")).read_bytes()
    except OSError as exc:
        raise FatalError(f"cannot read {location}: {exc}", reason="UNREADABLE") from exc


def paged(records: list[Record], *, size: int, version: str, bookmark: Bookmark) -> Iterator[Page]:
    """``records`` of one document version in pages, resuming where ``bookmark`` says.

    A cursor is ``<version>|<next index>``; one of another version of the document starts
    this version over. Each page's high water is ``version``. Zero records: one empty page,
    so the pass completes and the bookmark moves.
    """
    start = 0
    if bookmark.resume:
        seen, _, index = bookmark.resume.rpartition("|")
        start = int(index) if seen == version else 0
    while True:
        end = min(start + size, len(records))
        cursor = f"{version}|{end}" if end < len(records) else None
        yield Page(records[start:end], cursor, version)
        if cursor is None:
            return
        start = end


@dataclass(frozen=True, slots=True)
class Document:
    model: str  # AR or POAM
    root: Node
    #: ``metadata.last-modified`` in UTC, ISO 8601 with microseconds (the bookmark).
    last_modified: str

    @property
    def uuid(self) -> str:
        return str(self.root.get("uuid", ""))

    @property
    def metadata(self) -> Node:
        return _node(self.root.get("metadata"))

    def party_names(self, uuids: Iterable[str]) -> list[str]:
        parties = {p.get("uuid"): p for p in _nodes(self.metadata.get("parties"))}
        return [str(parties[u].get("name") or u) if u in parties else u for u in uuids]

    def role_parties(self, role: str) -> list[str]:
        uuids = [
            str(u)
            for rp in _nodes(self.metadata.get("responsible-parties"))
            if rp.get("role-id") == role
            for u in rp.get("party-uuids") or []
        ]
        return self.party_names(uuids)


def parse(raw: bytes, location: str) -> Document:
    try:
        loaded = json.loads(raw)
    except ValueError as exc:
        raise FatalError(f"{location} is not JSON: {exc}", reason="NOT_OSCAL_JSON") from exc
    if not isinstance(loaded, dict):
        raise FatalError(f"{location} holds no JSON object", reason="NOT_OSCAL_JSON")
    for model in (AR, POAM):
        root = loaded.get(model)
        if isinstance(root, dict):
            break
    else:
        found = ", ".join(sorted(loaded)) or "nothing"
        raise FatalError(
            f"{location} is neither OSCAL assessment results nor a POA&M (top level: {found})",
            reason="NOT_OSCAL_MODEL",
        )
    modified = _node(root.get("metadata")).get("last-modified")
    try:
        stamp = datetime.fromisoformat(str(modified))
    except ValueError as exc:
        raise FatalError(
            f"{location}: metadata.last-modified {modified!r} is not a date-time",
            reason="BAD_LAST_MODIFIED",
        ) from exc
    if stamp.tzinfo is None:  # OSCAL requires an offset; a document without one says UTC
        stamp = stamp.replace(tzinfo=UTC)
    return Document(model, root, stamp.astimezone(UTC).isoformat(timespec="microseconds"))


def _node(value: object) -> Node:
    return value if isinstance(value, Mapping) else {}


def _nodes(value: object) -> list[Node]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _refs(node: Node, key: str, field: str) -> list[str]:
    return [str(ref[field]) for ref in _nodes(node.get(key)) if ref.get(field)]


def _prop(node: Node, name: str) -> str | None:
    for prop in _nodes(node.get("props")):
        if prop.get("name") == name and prop.get("value") is not None:
            return str(prop["value"])
    return None


def _text(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _earliest(values: Iterable[object]) -> str | None:
    """The earliest of some OSCAL date-times, as written; unreadable ones are passed over."""
    best: tuple[datetime, str] | None = None
    for value in values:
        if not isinstance(value, str) or not value:
            continue
        try:
            stamp = datetime.fromisoformat(value)
        except ValueError:
            continue
        stamp = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
        if best is None or stamp < best[0]:
            best = (stamp, value)
    return None if best is None else best[1]


def control_id(target_id: str) -> str:
    """``ac-6.1_obj`` and ``ac-6.1_smt.a`` → ``ac-6.1``: OSCAL part ids extend the control's."""
    return target_id.split("_", 1)[0]


def _origin_parties(doc: Document, node: Node) -> list[str]:
    uuids = [
        str(actor["actor-uuid"])
        for origin in _nodes(node.get("origins"))
        for actor in _nodes(origin.get("actors"))
        if actor.get("type") == "party" and actor.get("actor-uuid")
    ]
    return doc.party_names(dict.fromkeys(uuids))


def _facets(node: Node) -> dict[str, str]:
    """The first value of each facet name over a risk's characterizations."""
    found: dict[str, str] = {}
    for characterization in _nodes(node.get("characterizations")):
        for facet in _nodes(characterization.get("facets")):
            name, value = facet.get("name"), facet.get("value")
            if isinstance(name, str) and value is not None:
                found.setdefault(name, str(value).strip().lower())
    return found


ClauseKeys = Callable[[str, str], list[str]]


def findings(doc: Document, clause_keys: ClauseKeys) -> list[Record]:
    """``results[].findings[]`` whose target is not satisfied; ``clause_keys(target_id,
    control_id)`` names their clauses.

    A satisfied target is conformity, not a finding: it is left out rather than recorded
    as an observation, which would fill the register with every passed test of continuous
    monitoring. (A nonconformity later reported satisfied is not closed by the source
    either way: Accord closes one only after its CAPA is verified.)
    """
    records: list[Record] = []
    for result in _nodes(doc.root.get("results")):
        observations = {o.get("uuid"): o for o in _nodes(result.get("observations"))}
        risks = {r.get("uuid"): r for r in _nodes(result.get("risks"))}
        for finding in _nodes(result.get("findings")):
            target = _node(finding.get("target"))
            status = _node(target.get("status"))
            state = status.get("state")
            if state == "satisfied":
                continue
            target_id = str(target.get("target-id") or "")
            observation_uuids = _refs(finding, "related-observations", "observation-uuid")
            risk_uuids = _refs(finding, "related-risks", "risk-uuid")
            collected = [_node(observations.get(u)).get("collected") for u in observation_uuids]
            deadlines = [_node(risks.get(u)).get("deadline") for u in risk_uuids]
            assessors = _origin_parties(doc, finding) or doc.role_parties("assessor")
            records.append(
                {
                    "uuid": finding.get("uuid"),
                    "document_uuid": doc.uuid,
                    "result_uuid": result.get("uuid"),
                    "result_title": result.get("title"),
                    "result_start": result.get("start"),
                    "title": _text(finding.get("title")),
                    "description": _text(finding.get("description")),
                    "remarks": _text(finding.get("remarks")),
                    "target_type": target.get("type"),
                    "target_id": target_id or None,
                    "target_state": state,
                    "target_reason": status.get("reason"),
                    "control_id": control_id(target_id) if target_id else None,
                    "clause_keys": clause_keys(target_id, control_id(target_id))
                    if target_id
                    else [],
                    "observation_uuids": observation_uuids,
                    "risk_uuids": risk_uuids,
                    # A finding carries no date of its own: its evidence was collected then.
                    "observed_at": _earliest(collected) or result.get("start"),
                    "assessors": "; ".join(assessors) or None,
                    "deadline": _earliest(deadlines),
                }
            )
    return records


def _risk(doc: Document, risk: Node, result_uuid: str | None) -> Record:
    facets = _facets(risk)
    remediations = _nodes(risk.get("remediations"))
    first = remediations[0] if remediations else {}
    return {
        "uuid": risk.get("uuid"),
        "document_uuid": doc.uuid,
        "result_uuid": result_uuid,
        "title": _text(risk.get("title")),
        "description": _text(risk.get("description")),
        "statement": _text(risk.get("statement")),
        "status": risk.get("status"),
        "likelihood": facets.get("likelihood"),
        "impact": facets.get("impact"),
        "deadline": risk.get("deadline"),
        "remediation_type": _prop(first, "type"),
        "remediation_lifecycle": first.get("lifecycle"),
        "remediation_title": _text(first.get("title")),
        "remediation_description": _text(first.get("description")),
        "mitigating_factors": "\n\n".join(
            t for m in _nodes(risk.get("mitigating-factors")) if (t := _text(m.get("description")))
        )
        or None,
        "observation_uuids": _refs(risk, "related-observations", "observation-uuid"),
        "identified_by": "; ".join(_origin_parties(doc, risk)) or None,
    }


def result_risks(doc: Document) -> list[Record]:
    """``results[].risks[]`` of assessment results."""
    return [
        _risk(doc, risk, result.get("uuid"))
        for result in _nodes(doc.root.get("results"))
        for risk in _nodes(result.get("risks"))
    ]


def poam_risks(doc: Document) -> list[Record]:
    """The top-level ``risks[]`` of a POA&M."""
    return [_risk(doc, risk, None) for risk in _nodes(doc.root.get("risks"))]


def poam_items(doc: Document) -> list[Record]:
    """``poam-items[]``, with the deadline and milestones of the risks they address."""
    risks = {r.get("uuid"): r for r in _nodes(doc.root.get("risks"))}
    records: list[Record] = []
    for item in _nodes(doc.root.get("poam-items")):
        risk_uuids = _refs(item, "related-risks", "risk-uuid")
        # A link may name something that is not a risk of this document (the NIST example
        # links a mitigating factor); it is kept as given and simply resolves to nothing.
        linked = [risks[u] for u in risk_uuids if u in risks]
        milestones = [
            task
            for risk in linked
            for remediation in _nodes(risk.get("remediations"))
            for task in _nodes(remediation.get("tasks"))
            if task.get("type") == "milestone"
        ]
        ends = [
            _node(_node(t.get("timing")).get("within-date-range")).get("end")
            or _node(_node(t.get("timing")).get("on-date")).get("date")
            for t in milestones
        ]
        records.append(
            {
                "uuid": item.get("uuid"),
                "document_uuid": doc.uuid,
                "title": _text(item.get("title")),
                "description": _text(item.get("description")),
                "remarks": _text(item.get("remarks")),
                "finding_uuids": _refs(item, "related-findings", "finding-uuid"),
                "observation_uuids": _refs(item, "related-observations", "observation-uuid"),
                "risk_uuids": risk_uuids,
                "risk_titles": [t for r in linked if (t := _text(r.get("title")))],
                "deadline": _earliest(r.get("deadline") for r in linked),
                "milestones": [t for m in milestones if (t := _text(m.get("title")))],
                "milestone_due": _earliest(ends),
                "identified_by": "; ".join(_origin_parties(doc, item)) or None,
            }
        )
    return records
