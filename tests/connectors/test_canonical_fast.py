"""The fast canonical JSON is RFC 8785 byte for byte; the batched event digest is
``entry_digest``; the page upsert's array literals round-trip through PostgreSQL."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, BaseModel, field_serializer

from accord.compliance.capa.sourced import SourcedActionIn, SourcedCapaIn
from accord.compliance.findings.schemas import FindingIn
from accord.compliance.risks.schemas import RiskIn
from accord.connectors.framework.hashing import (
    canonical_bytes,
    canonical_text,
    model_text,
    plain,
    plain_model,
)
from accord.connectors.sync.events import at_text, event_canonical
from accord.connectors.sync.sinks import _array_literal
from accord.platform.canonical import canonical_digest
from accord.platform.eventlog import entry_digest

#: Around the edges RFC 8785 cares about: the safe-integer bounds and beyond.
_ints = st.one_of(
    st.integers(),
    st.sampled_from([2**53 - 1, 2**53, -(2**53) + 1, -(2**53), 0, -1]),
)
#: Control characters, quotes, backslashes, U+2028, non-BMP and BMP-private characters.
_text = st.one_of(
    st.text(),
    st.text(
        alphabet=st.sampled_from(list('\x00\x01\x08\t\n\x0c\r\x1f"\\/\u2028\ue000\U0001f600é\x7f'))
    ),
)
_scalars = st.one_of(
    st.none(), st.booleans(), _ints, _text, st.floats(allow_nan=False, allow_infinity=False)
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(_text, inner, max_size=5)),
    max_leaves=30,
)


def _reference(value: Any) -> bytes | type[Exception]:
    try:
        out: bytes = rfc8785.dumps(value)
    except ValueError as exc:
        return type(exc)
    return out


def _fast(value: Any) -> bytes | type[Exception]:
    try:
        return canonical_bytes(value)
    except ValueError as exc:
        return type(exc)


@settings(max_examples=3000, deadline=None)
@given(_json)
def test_fast_canonical_json_is_rfc8785(value: Any) -> None:
    expected = _reference(value)
    if isinstance(expected, bytes):
        assert canonical_bytes(value) == expected
        assert canonical_text(value).encode() == expected
    else:  # the reference refuses it (an integer beyond 2**53 - 1): so must we
        assert not plain(value)
        assert _fast(value) is expected


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(_text, _json, max_size=8))
def test_fast_path_taken_for_plain_payloads(value: dict[str, Any]) -> None:
    if plain(value):
        assert canonical_text(value).encode() == rfc8785.dumps(value)


def test_fast_path_is_used_for_what_we_emit() -> None:
    record: Any = {"a": "x", "b": None, "c": True, "d": [1, "2", {"e": -(2**53) + 1}], "é": "ü"}
    assert plain(record) and canonical_bytes(record) == rfc8785.dumps(record)
    for not_plain in ({"f": 1.0}, {"\U0001f600": 1}, {"n": 2**53}, {1: "x"}, ("t",)):
        assert not plain(not_plain)
    assert canonical_digest(record) == canonical_digest(dict(record))


_aware = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.astimezone(timezone(timedelta(hours=5, minutes=30))))


@settings(max_examples=1000, deadline=None)
@given(
    seq=st.integers(min_value=1, max_value=2**53 - 1),
    at=_aware,
    actor=_text,
    action=_text,
    record_type=_text,
    record_id=_text,
    change=st.dictionaries(_text, _json, max_size=6),
    prev_hash=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
)
def test_batched_event_digest_is_entry_digest(
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    record_type: str,
    record_id: str,
    change: dict[str, Any],
    prev_hash: str,
) -> None:
    try:
        expected = entry_digest(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            record_type=record_type,
            record_id=record_id,
            change=change,
            prev_hash=prev_hash,
        )
    except ValueError:
        return  # not representable in RFC 8785 at all (e.g. an integer beyond 2**53 - 1)
    text = event_canonical(
        seq=seq,
        at_text=at_text(at),
        actor=actor,
        action=action,
        record_type=record_type,
        record_id=record_id,
        change_text=canonical_text(change),
        prev_hash=prev_hash,
    )
    assert hashlib.sha256(text.encode()).hexdigest() == expected


def test_array_literal_quotes_everything() -> None:
    assert _array_literal(None) is None
    assert _array_literal([]) == "{}"
    assert _array_literal(["a,b", 'q"x', "b\\s", "NULL", None]) == (
        '{"a,b","q\\"x","b\\\\s","NULL",NULL}'
    )


class _Kind(StrEnum):
    A = "a"
    B = "b\u00e9"


class _Plain(BaseModel):
    name: str
    note: str | None = None
    kind: _Kind
    tags: list[str]
    at: AwareDatetime
    day: date | None = None
    ref: uuid.UUID | None = None
    flag: bool = False


def test_plain_model_knows_which_schemas_dump_plain() -> None:
    class WithInt(BaseModel):
        n: int

    class WithFreeDict(BaseModel):
        data: dict[str, str]

    class WithSerializer(BaseModel):
        name: str

        @field_serializer("name")
        def _upper(self, value: str) -> str:
            return value.upper()

    class Nested(BaseModel):
        inner: _Plain
        more: list[_Plain]

    assert plain_model(_Plain) and plain_model(Nested)
    assert plain_model(FindingIn) and plain_model(SourcedActionIn)
    assert not plain_model(WithInt)  # beyond 2**53 a number is not plain
    assert not plain_model(WithFreeDict)  # keys could sort differently
    assert not plain_model(WithSerializer)
    assert not plain_model(RiskIn) and not plain_model(SourcedCapaIn)


@settings(max_examples=300, deadline=None)
@given(
    name=_text,
    note=st.none() | _text,
    kind=st.sampled_from(list(_Kind)),
    tags=st.lists(_text, max_size=4),
    seconds=st.integers(min_value=0, max_value=4_000_000_000),
    position=st.none() | st.integers(min_value=0, max_value=2**53 - 1),
)
def test_model_text_is_rfc8785(
    name: str, note: str | None, kind: _Kind, tags: list[str], seconds: int, position: int | None
) -> None:
    model = _Plain(
        name=name,
        note=note,
        kind=kind,
        tags=tags,
        at=datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds, microseconds=seconds % 7),
        day=date(2024, 5, 28),
        ref=uuid.UUID(int=seconds),
    )
    dump = model.model_dump(mode="json", exclude_none=True)
    extra = None if position is None else {"position": position}
    if extra:
        dump.update(extra)
    assert model_text(model, extra) == rfc8785.dumps(dump).decode()


def test_model_text_of_a_number_beyond_the_safe_range_takes_the_reference() -> None:
    model = _Plain(name="x", kind=_Kind.A, tags=[], at=datetime(2024, 1, 1, tzinfo=UTC))
    # rfc8785 refuses integers beyond 2**53 - 1; the fast path must not write them silently.
    with pytest.raises(rfc8785.IntegerDomainError):
        model_text(model, {"position": 2**53})
