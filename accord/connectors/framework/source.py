"""What a source package exports: ``SOURCE = SourceSpec(...)``; the registry finds it by kind.

A new source is a package ``accord.connectors.sources.<kind>`` with its streams, its config
model and its mapping YAML files; nothing else in Accord changes.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accord.connectors.framework.config import SourceConfig
from accord.connectors.framework.http import SourceClient
from accord.connectors.framework.mapping import load_yaml
from accord.connectors.framework.streams import HttpReader, HttpStream, Reader, Stream
from accord.platform.errors import BadInput, NotFound

_KIND = re.compile(r"^[a-z][a-z0-9_]{1,40}$")


def http_reader(stream: Stream, config: SourceConfig, client: SourceClient) -> Reader:
    assert isinstance(stream, HttpStream)
    return HttpReader(stream, client, page_size=config.page_size)


@dataclass(frozen=True, slots=True)
class SourceSpec:
    kind: str
    title: str
    source_system: str
    config_model: type[SourceConfig]
    #: The streams an instance offers, given its config (e.g. OData V4 or V2 variants).
    streams: Callable[[SourceConfig], tuple[Stream, ...]]
    #: The package holding the stream mapping files.
    package: str
    open_reader: Callable[[Stream, SourceConfig, SourceClient], Reader] = http_reader

    def stream(self, config: SourceConfig, name: str) -> Stream:
        for stream in self.streams(config):
            if stream.name == name:
                return stream
        known = ", ".join(s.name for s in self.streams(config))
        raise NotFound(
            f"No stream {name!r} (known: {known}).", reason="UNKNOWN_STREAM", field="stream"
        )

    def mapping_spec(self, stream: Stream) -> dict[str, Any]:
        spec = load_yaml(self.package, stream.mapping)
        spec.setdefault("source_system", self.source_system)
        spec.setdefault("record_type", stream.record_type)
        return spec


def get_source(kind: str) -> SourceSpec:
    if not _KIND.match(kind):
        raise BadInput(f"{kind!r} is not a connector kind.", reason="UNKNOWN_KIND", field="kind")
    try:
        module = importlib.import_module(f"accord.connectors.sources.{kind}")
    except ModuleNotFoundError:
        raise BadInput(
            f"No connector kind {kind!r}.", reason="UNKNOWN_KIND", field="kind"
        ) from None
    spec = getattr(module, "SOURCE", None)
    if not isinstance(spec, SourceSpec):
        raise BadInput(f"{kind!r} declares no SOURCE.", reason="UNKNOWN_KIND", field="kind")
    return spec
