"""NIST OSCAL assessment results and POA&Ms (JSON) from a file path or a URL.

Streams: ``ar_findings`` (findings whose target is not satisfied → nonconformities),
``ar_risks`` (``results[].risks``) and ``poam_risks`` (a POA&M's ``risks``) → risks,
``poam_items`` → CAPA. A stream meant for the other document model reads nothing and says
so in the run log. The external id is the OSCAL uuid.

Clauses: OSCAL findings name controls of the system's catalog (NIST SP 800-53 in the
NIST examples), which Accord's catalog may not hold. ``clause_map`` names the Accord
clauses of a control (``ac-6.1``) or of one target (``ac-6.1_obj``); an unmapped control
becomes ``<control_standard>/<CONTROL>``, which the finding sink quarantines as
``UNKNOWN_CLAUSE`` unless that standard was imported into the catalog. The record keeps
``control_id``, so a quarantined finding is fixed by a mapping override such as
``clause_keys: {from: control_id, type: list, codes: {"ac-6.1": ["iso27001:2022/A.8.2"]}}``
and a replay.

Bookmark: ``metadata.last-modified``. A document whose last-modified equals the one of
the last complete pass is not read further (nothing is written); any other value, even
an older one (a restored version), is read, and unchanged records cost only their hash.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from pydantic import Field, field_validator

from accord.compliance.vocab import ClauseKey, is_standard_id
from accord.connectors.framework.config import SourceConfig
from accord.connectors.framework.http import SourceClient
from accord.connectors.framework.source import SourceSpec
from accord.connectors.framework.state import Bookmark
from accord.connectors.framework.streams import Page, Reader, Stream
from accord.connectors.sources.oscal import document
from accord.connectors.sources.oscal.document import AR, POAM, Document, Record


class OscalConfig(SourceConfig):
    clause_map: dict[str, list[str]] = Field(
        default_factory=dict,
        description="OSCAL control id (ac-6.1) or target id (ac-6.1_obj) → Accord clause keys.",
    )
    control_standard: str = Field(
        default="nist-sp800-53:2020",
        description="Standard id that unmapped control ids are read as (NIST SP 800-53 Rev. 5).",
    )

    @field_validator("clause_map", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("clause_map")
    @classmethod
    def _clause_keys(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for keys in value.values():
            for key in keys:
                ClauseKey.parse(key)  # a ValueError names the malformed key
        return {k.strip().lower(): keys for k, keys in value.items()}

    @field_validator("control_standard")
    @classmethod
    def _standard(cls, value: str) -> str:
        if not is_standard_id(value):
            raise ValueError(f"{value!r} is not a standard id such as 'nist-sp800-53:2020'")
        return value

    def clause_keys(self, target_id: str, control_id: str) -> list[str]:
        found = self.clause_map.get(target_id.lower()) or self.clause_map.get(control_id.lower())
        return list(found) if found else [f"{self.control_standard}/{control_id.upper()}"]


Extract = Callable[[Document, OscalConfig], list[Record]]


def _no_records(doc: Document, config: OscalConfig) -> list[Record]:
    return []


@dataclass(frozen=True, slots=True)
class OscalStream(Stream):
    #: The document model the stream reads (``assessment-results`` or the POA&M).
    model: str = AR
    #: The stream's records in the document.
    extract: Extract = _no_records


class OscalReader:
    def __init__(
        self, stream: OscalStream, config: OscalConfig, client: SourceClient, location: str
    ) -> None:
        self.stream, self.config, self.client, self.location = stream, config, client, location

    def _note(self, action: str, doc: Document) -> None:
        self.client.log.append(
            {
                "stream": self.stream.name,
                "action": action,
                "model": doc.model,
                "last_modified": doc.last_modified,
            }
        )

    async def pages(self, bookmark: Bookmark) -> AsyncIterator[Page]:
        doc = document.parse(
            await document.read_location(self.location, self.client), self.location
        )
        if doc.model != self.stream.model:
            self._note("skipped: the document is another OSCAL model", doc)
            return
        if not bookmark.resume and bookmark.replication_value == doc.last_modified:
            self._note("unchanged since the last pass", doc)
            return
        records = self.stream.extract(doc, self.config)
        pages = document.paged(
            records, size=self.config.page_size, version=doc.last_modified, bookmark=bookmark
        )
        for page in pages:
            yield page


def _streams(config: SourceConfig) -> tuple[Stream, ...]:
    def findings(doc: Document, config: OscalConfig) -> list[Record]:
        return document.findings(doc, config.clause_keys)

    def ar_risks(doc: Document, config: OscalConfig) -> list[Record]:
        return document.result_risks(doc)

    def poam_risks(doc: Document, config: OscalConfig) -> list[Record]:
        return document.poam_risks(doc)

    def poam_items(doc: Document, config: OscalConfig) -> list[Record]:
        return document.poam_items(doc)

    def stream(name: str, record_type: str, mapping: str, model: str, extract: Extract) -> Stream:
        return OscalStream(
            name=name,
            record_type=record_type,
            mapping=mapping,
            primary_key="uuid",
            model=model,
            extract=extract,
        )

    return (
        stream("ar_findings", "finding", "ar_findings.yaml", AR, findings),
        stream("ar_risks", "risk", "risks.yaml", AR, ar_risks),
        stream("poam_risks", "risk", "risks.yaml", POAM, poam_risks),
        stream("poam_items", "capa", "poam_items.yaml", POAM, poam_items),
    )


def _reader(stream: Stream, config: SourceConfig, client: SourceClient) -> Reader:
    assert isinstance(stream, OscalStream) and isinstance(config, OscalConfig)
    return OscalReader(stream, config, client, client.base_url)


SOURCE = SourceSpec(
    kind="oscal",
    title="NIST OSCAL assessment results and POA&M (JSON)",
    source_system="oscal",
    config_model=OscalConfig,
    streams=_streams,
    package=__name__,
    open_reader=_reader,
)
