"""Clause mappings from a CISO Assistant library (YAML) or an OSCAL mapping collection (JSON).

The document is read from a path or URL and told apart by content, as ``accord mappings
import`` does; the readers of ``compliance.mappings`` parse it (a document they refuse
fails the run with every problem listed, since no single mapping is to blame). Each
mapping of each set becomes one record, keyed ``<set urn>#<position>``, for the tenant's
own mappings. Mapping-set requirement urns are turned into clause keys from the urns
alone (the reader has no catalog at hand); a key the catalog lacks is quarantined by the
sink as ``UNKNOWN_CLAUSE``, and lands on replay once the framework is imported or an
override re-keys that side.

No bookmark: libraries carry no modification time that all formats share, and a
re-read of an unchanged document costs a hash per mapping and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import yaml
from pydantic import Field

from accord.compliance.mappings import service as mapping_service
from accord.compliance.mappings.ciso_assistant import parse_library
from accord.compliance.mappings.oscal import parse_mapping_collection
from accord.compliance.mappings.types import ImportedMappingSet, LibraryFormatError
from accord.compliance.vocab import ClauseKey
from accord.connectors.framework.config import SourceConfig
from accord.connectors.framework.errors import FatalError
from accord.connectors.framework.http import SourceClient
from accord.connectors.framework.source import SourceSpec
from accord.connectors.framework.state import Bookmark
from accord.connectors.framework.streams import Page, Reader, Stream
from accord.connectors.sources.oscal.document import paged, read_location

CISO = "ciso-assistant"
OSCAL = "oscal"


class ClauseMappingsConfig(SourceConfig):
    source_standard: str | None = Field(
        default=None, description="OSCAL: Accord standard id of the collection's sources."
    )
    target_standard: str | None = Field(
        default=None, description="OSCAL: Accord standard id of the collection's targets."
    )
    edition_years: dict[str, int] = Field(
        default_factory=dict,
        description="CISO Assistant: edition year of a framework slug without one.",
    )


def _yaml(text: str) -> object:
    # libyaml's safe loader reads a large library several times faster than the Python one.
    if hasattr(yaml, "CSafeLoader"):
        return yaml.load(text, Loader=yaml.CSafeLoader)
    return yaml.safe_load(text)


def load(raw: bytes, location: str) -> Mapping[str, object]:
    try:
        text = raw.decode("utf-8-sig")
        loaded = json.loads(text) if text.lstrip().startswith("{") else _yaml(text)
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise FatalError(f"{location} is not JSON or YAML: {exc}", reason="UNREADABLE") from exc
    if not isinstance(loaded, Mapping):
        raise FatalError(f"{location} holds no mapping", reason="UNREADABLE")
    return loaded


def mapping_sets(
    document: Mapping[str, object], config: ClauseMappingsConfig
) -> tuple[str, tuple[ImportedMappingSet, ...]]:
    """(format, the document's mapping sets), by the readers ``accord mappings import`` uses."""
    try:
        if mapping_service.is_oscal(document):
            collection = parse_mapping_collection(
                document,
                source_standard=config.source_standard,
                target_standard=config.target_standard,
            )
            return OSCAL, (collection,)
        return CISO, parse_library(document, edition_years=config.edition_years).mapping_sets
    except LibraryFormatError as exc:
        raise FatalError(
            f"{len(exc.problems)} problem(s) in the document",
            reason="LIBRARY_INVALID",
            body=str(exc),
        ) from exc


def records(kind: str, sets: tuple[ImportedMappingSet, ...]) -> Iterator[dict[str, Any]]:
    for mapping_set in sets:
        for position, m in enumerate(mapping_set.mappings):
            source, target = ClauseKey.parse(m.source_key), ClauseKey.parse(m.target_key)
            yield {
                "id": f"{mapping_set.urn}#{position}",
                "format": kind,
                "mapping_set": mapping_set.urn,
                "mapping_set_name": mapping_set.name,
                "position": position,
                "source_framework": mapping_set.source_framework_urn,
                "target_framework": mapping_set.target_framework_urn,
                "source_urn": m.source_urn,
                "target_urn": m.target_urn,
                "source_key": m.source_key,
                "target_key": m.target_key,
                "source_standard": source.standard,
                "source_clause": source.number,
                "target_standard": target.standard,
                "target_clause": target.number,
                "relationship": m.relationship.value,
                "rationale": None if m.rationale is None else m.rationale.value,
                "strength": m.strength,
                "method": m.method.value,
                "status": m.status.value,
                "author": m.author,
                "source_document": m.source_document,
            }


class ClauseMappingReader:
    def __init__(self, config: ClauseMappingsConfig, client: SourceClient, location: str) -> None:
        self.config, self.client, self.location = config, client, location

    async def pages(self, bookmark: Bookmark) -> AsyncIterator[Page]:
        raw = await read_location(self.location, self.client)
        kind, sets = mapping_sets(load(raw, self.location), self.config)
        found = list(records(kind, sets))
        # The content digest versions the resume cursor; it is no bookmark (see above).
        version = hashlib.sha256(raw).hexdigest()[:16]
        for page in paged(found, size=self.config.page_size, version=version, bookmark=bookmark):
            yield Page(page.records, page.cursor)


def _streams(config: SourceConfig) -> tuple[Stream, ...]:
    return (
        Stream(
            name="mappings",
            record_type="clause_mapping",
            mapping="clause_mapping.yaml",
            primary_key="id",
        ),
    )


def _reader(stream: Stream, config: SourceConfig, client: SourceClient) -> Reader:
    assert isinstance(config, ClauseMappingsConfig)
    return ClauseMappingReader(config, client, client.base_url)


SOURCE = SourceSpec(
    kind="clause_mappings",
    title="Clause mappings (CISO Assistant library or OSCAL mapping collection)",
    source_system="clause-mappings",
    config_model=ClauseMappingsConfig,
    streams=_streams,
    package=__name__,
    open_reader=_reader,
)
