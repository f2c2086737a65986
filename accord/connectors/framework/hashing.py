"""A fast RFC 8785 digest for source payloads, equal to ``canonical_digest`` bit for bit.

``rfc8785`` is pure Python (~60 µs for a SAP header); hashing every fetched record is what
makes an unchanged re-sync cheap or not. For payloads made only of strings, integers,
booleans, nulls, lists and dicts with BMP keys, ``json.dumps`` with sorted keys produces the
same bytes as RFC 8785 (the two differ only on floats and on keys outside the BMP, where
RFC 8785 sorts by UTF-16 code units); anything else takes the reference implementation.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from accord.platform.canonical import canonical_digest

_dumps = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
).encode


def _plain(value: Any) -> bool:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        # RFC 8785 numbers are IEEE doubles: beyond 2**53 the two serialisations differ.
        return bool(-(2**53) <= value <= 2**53)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or (key and max(key) > "\uffff") or not _plain(item):
                return False
        return True
    if kind is list:
        return all(_plain(item) for item in value)
    return False


def payload_digest(payload: dict[str, Any]) -> str:
    """SHA-256 of the RFC 8785 form of a JSON payload."""
    if _plain(payload):
        return hashlib.sha256(_dumps(payload).encode()).hexdigest()
    return canonical_digest(payload)
