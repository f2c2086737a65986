"""Fast RFC 8785 (JCS) canonical JSON, equal to ``rfc8785.dumps`` byte for byte.

``rfc8785`` is pure Python (~60 µs for a SAP header, ~160 µs for an event entry); hashing
every fetched record and every event is what makes a sync cheap or not. For values made
only of strings, integers in the IEEE-double safe range, booleans, nulls, lists and dicts
whose keys are BMP strings, the C ``json`` encoder with sorted keys produces the same bytes
as RFC 8785: both escape exactly ``"``, ``\\`` and U+0000..U+001F (``\\b \\f \\n \\r \\t``
by name, the rest as lowercase ``\\u00xx``) and write everything else as UTF-8, and for BMP
keys code-point order is UTF-16 code-unit order. Floats (ECMAScript number formatting),
keys outside the BMP (RFC 8785 sorts by UTF-16 code units), tuples, str/int subclasses
(enums) and anything else take the reference implementation, so the result is always
RFC 8785. ``tests/connectors/test_canonical_fast.py`` proves the identity with hypothesis.

Such plain values are written by ``orjson`` with sorted keys: its string escaping is the
same (named ``\\b \\f \\n \\r \\t``, lowercase ``\\u00xx``, UTF-8 otherwise), keys of
the Basic Multilingual Plane sort the same by UTF-8 bytes as by UTF-16 code units, and it
is several times faster than the ``json`` encoder sorting keys itself.
"""

from __future__ import annotations

import hashlib
import json
import types
import uuid
from collections.abc import Iterable
from datetime import date, datetime, time
from enum import Enum
from functools import lru_cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import orjson
import rfc8785
from pydantic import AwareDatetime, BaseModel, FutureDate, NaiveDatetime, PastDate

_dumps = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
).encode

#: RFC 8785 (the ``rfc8785`` package) refuses integers outside ±(2**53 - 1).
_INT_MAX = 2**53 - 1


_SCALARS = frozenset({str, bool, type(None)})
_ONLY_STR = frozenset({str})


def _keys_ok(value: dict[Any, Any]) -> bool:
    if not {*map(type, value)} <= _ONLY_STR:
        return False
    keys = "".join(value)
    # isascii() is O(1) in CPython; only non-ASCII keys pay for the max() scan.
    return keys.isascii() or max(keys, default="") <= "\uffff"


def _items_ok(items: Iterable[Any]) -> bool:
    for item in items:
        k = type(item)
        if k is str or item is None or k is bool:
            continue
        if k is int:
            if not -_INT_MAX <= item <= _INT_MAX:
                return False
        elif k is dict:
            if not (_keys_ok(item) and _items_ok(item.values())):
                return False
        elif k is list:
            if not _items_ok(item):
                return False
        else:
            return False
    return True


def plain(value: Any) -> bool:
    """True if ``value`` is made only of types whose ``json`` form is its RFC 8785 form."""
    kind = type(value)
    if kind is dict:
        if not _keys_ok(value):
            return False
        values = value.values()
        # The common case, a flat record of strings, booleans and nulls, is decided in C.
        return {*map(type, values)} <= _SCALARS or _items_ok(values)
    if kind is list:
        return _items_ok(value)
    return _items_ok((value,))


def _plain_bytes(value: Any) -> bytes:
    """The RFC 8785 form of a ``plain`` value."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        # Unencodable text (a lone surrogate): fail as the ``json`` path always has.
        return _dumps(value).encode()


def plain_text(value: Any) -> str:
    """``canonical_text`` of a value ``plain`` is known to accept."""
    return _plain_bytes(value).decode()


def canonical_text(value: Any) -> str:
    """RFC 8785 canonical JSON of ``value`` as a ``str`` (UTF-8 encode it for the bytes)."""
    if plain(value):
        return _plain_bytes(value).decode()
    out: bytes = rfc8785.dumps(value)
    return out.decode()


def canonical_bytes(value: Any) -> bytes:
    """RFC 8785 canonical JSON of ``value``, the same bytes as ``rfc8785.dumps(value)``."""
    if plain(value):
        return _plain_bytes(value)
    out: bytes = rfc8785.dumps(value)
    return out


def canonical_digest(value: Any) -> str:
    """SHA-256 (hex) of the RFC 8785 form; equal to ``accord.platform.canonical``'s."""
    return hashlib.sha256(canonical_bytes(value)).hexdigest()


def payload_digest(payload: dict[str, Any]) -> str:
    """SHA-256 of the RFC 8785 form of a JSON payload."""
    return canonical_digest(payload)


#: Python types whose JSON-mode dump (pydantic) is a string, a boolean or null.
_PLAIN_LEAVES: frozenset[Any] = frozenset(
    {str, bool, type(None), date, datetime, time, uuid.UUID}
    | {AwareDatetime, NaiveDatetime, PastDate, FutureDate}
)


def _plain_type(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _plain_type(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return all(_plain_type(arg) for arg in get_args(annotation))
    if origin is list:
        args = get_args(annotation)
        return len(args) == 1 and _plain_type(args[0])
    if origin is Literal:
        return all(type(arg) in (str, bool) or arg is None for arg in get_args(annotation))
    if not isinstance(annotation, type):
        return False
    if issubclass(annotation, Enum):
        return all(type(member.value) is str for member in annotation)
    if issubclass(annotation, BaseModel):
        return plain_model(annotation)
    return annotation in _PLAIN_LEAVES


@lru_cache(maxsize=64)
def plain_model(model: type[BaseModel]) -> bool:
    """True if every JSON-mode dump of ``model`` is ``plain``, whatever its values: keys are
    ASCII field names and values only strings, booleans, nulls and lists or models of those
    (no numbers, no free-form dicts, no custom serialisers). Such a dump needs no ``plain``
    walk before its canonical form is written."""
    decorators = model.__pydantic_decorators__
    if (
        model.model_config.get("extra") == "allow"
        or decorators.field_serializers
        or decorators.model_serializers
        or model.model_computed_fields
    ):
        return False
    return all(
        name.isascii() and info.alias is None and _plain_type(info.annotation)
        for name, info in model.model_fields.items()
    )


def model_text(model: BaseModel, extra: dict[str, int] | None = None) -> str:
    """``canonical_text`` of ``model.model_dump(mode="json", exclude_none=True)`` updated with
    ``extra`` (small integers), skipping the ``plain`` walk when ``plain_model`` allows."""
    dump = model.model_dump(mode="json", exclude_none=True)
    if extra:
        dump.update(extra)
    if plain_model(type(model)) and (
        extra is None or all(type(v) is int and -_INT_MAX <= v <= _INT_MAX for v in extra.values())
    ):
        return _plain_bytes(dump).decode()
    return canonical_text(dump)
