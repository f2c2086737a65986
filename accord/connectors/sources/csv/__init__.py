"""CSV exports (audit findings or CAPA registers) from a file path or a URL.

Encodings: a UTF-8 BOM is honoured; otherwise UTF-8 is tried and cp1252 (Excel on Windows)
is the fallback, unless the config names one. Each row keeps its row number (the header is
row 1), so a rejected row is reported as row, column and reason.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from accord.connectors.framework.config import SourceConfig
from accord.connectors.framework.http import SourceClient
from accord.connectors.framework.source import SourceSpec
from accord.connectors.framework.state import Bookmark
from accord.connectors.framework.streams import Page, Reader, Stream

#: What a register of each record type is read with, unless the config says otherwise.
REGISTERS: dict[str, tuple[str, str]] = {
    "finding": ("audit_findings.yaml", "Finding ID"),
    "capa": ("capa_register.yaml", "CAPA No"),
}


class CsvConfig(SourceConfig):
    record_type: Literal["finding", "capa"] = "finding"
    mapping: str = "audit_findings.yaml"
    key_column: str = "Finding ID"
    encoding: str = Field(default="auto", description="auto, utf-8, utf-8-sig, cp1252, …")
    delimiter: str = Field(default=",", min_length=1, max_length=1)

    @model_validator(mode="before")
    @classmethod
    def _register_defaults(cls, values: Any) -> Any:
        if isinstance(values, dict) and values.get("record_type") in REGISTERS:
            mapping, key_column = REGISTERS[values["record_type"]]
            values = {"mapping": mapping, "key_column": key_column, **values}
        return values


def decode(raw: bytes, encoding: str) -> str:
    if encoding != "auto":
        return raw.decode(encoding)
    if raw.startswith(b"\xef\xbb\xbf"):
        return raw.decode("utf-8-sig")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


class CsvReader:
    def __init__(self, location: str, config: CsvConfig, client: SourceClient) -> None:
        self.location, self.config, self.client = location, config, client

    async def _read(self) -> bytes:
        if self.location.startswith(("http://", "https://")):
            return await self.client.get_bytes(self.location)
        return Path(self.location.removeprefix("file://")).read_bytes()

    async def pages(self, bookmark: Bookmark) -> AsyncIterator[Page]:
        text = decode(await self._read(), self.config.encoding)
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=self.config.delimiter)
        start = int(bookmark.resume.removeprefix("row:")) if bookmark.resume else 0
        size = self.config.page_size
        records: list[dict[str, object]] = []
        positions: list[int] = []
        for row in reader:
            number = reader.line_num
            if number < start:
                continue
            records.append({k.strip(): (v or "").strip() for k, v in row.items() if k})
            positions.append(number)
            if len(records) == size:
                yield Page(records, f"row:{number + 1}", None, positions)
                records, positions = [], []
        yield Page(records, None, None, positions)


def _streams(config: SourceConfig) -> tuple[Stream, ...]:
    assert isinstance(config, CsvConfig)
    return (
        Stream(
            name="rows",
            record_type=config.record_type,
            mapping=config.mapping,
            primary_key=config.key_column,
        ),
    )


def _reader(stream: Stream, config: SourceConfig, client: SourceClient) -> Reader:
    assert isinstance(config, CsvConfig)
    return CsvReader(client.base_url, config, client)


SOURCE = SourceSpec(
    kind="csv",
    title="CSV export (audit findings or CAPA register)",
    source_system="csv",
    config_model=CsvConfig,
    streams=_streams,
    package=__name__,
    open_reader=_reader,
)
