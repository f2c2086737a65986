"""Opaque, signed keyset cursors.

A cursor carries the position (the sort key and id of the last item seen) and the
fingerprint of the query it belongs to, signed with HMAC-SHA256. A cursor from another
query (other filter, process, caller) or an altered one is refused with BAD_USER_INPUT,
so a client can neither replay a cursor into a different listing nor craft a position.

The key comes from ``ACCORD_CURSOR_SECRET`` (the same value on every replica, so any
replica accepts any replica's cursors). Without it a development process uses the random
key of its data directory (``cursor.key``, made on first use, mode 0600: a published
constant would let anyone sign cursors), and a production process a random key of its own
(cursors then only survive on the replica that issued them, and a warning says so).

A genuine cursor is still decoded as untrusted input: whatever its body holds, a malformed
one is refused as BAD_CURSOR, never passed on.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Mapping
from typing import Any

from accord.platform.errors import BadInput
from accord.platform.secrets import local_key
from accord.platform.settings import Settings

log = logging.getLogger("accord.graphql")

CURSOR_SECRET_ENV = "ACCORD_CURSOR_SECRET"  # noqa: S105 (the variable name, not a value)
CURSOR_KEY_FILE = "cursor.key"
_MAC_SIZE = hashlib.sha256().digest_size

SortKey = tuple[int, str]


def cursor_key(settings: Settings, environ: Mapping[str, str] = os.environ) -> bytes:
    secret = environ.get(CURSOR_SECRET_ENV)
    if secret:
        return hashlib.sha256(secret.encode()).digest()
    if settings.env == "dev":
        return local_key(settings.data_dir / CURSOR_KEY_FILE, size=32)
    log.warning(
        "%s is not set: cursors are signed with a per-process key and fail on other replicas.",
        CURSOR_SECRET_ENV,
    )
    return secrets.token_bytes(32)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float)


def _bad(reason: str, message: str) -> BadInput:
    return BadInput(message, reason=reason, field="after")


class CursorSigner:
    """Signs and checks the cursors of one process (one key)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a cursor key has at least 16 bytes")
        self._key = key

    @staticmethod
    def fingerprint(*parts: object) -> str:
        """What identifies a query: its name, its caller and its normalised arguments."""
        text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._key, body, hashlib.sha256).digest()

    def encode(self, fingerprint: str, key: SortKey) -> str:
        body = json.dumps([fingerprint, key[0], key[1]], separators=(",", ":")).encode()
        return _b64encode(body + self._mac(body))

    def encode_parts(self, fingerprint: str, parts: list[Any]) -> str:
        """A cursor for a position of any JSON-able parts (federated listings)."""
        body = json.dumps([fingerprint, *parts], separators=(",", ":")).encode()
        return _b64encode(body + self._mac(body))

    def decode_parts(self, cursor: str, fingerprint: str) -> list[Any]:
        """The parts of ``cursor``, if it is genuine and belongs to this query."""
        body = self._checked(cursor)
        try:
            decoded = json.loads(body)
        except (ValueError, RecursionError):
            raise _bad("BAD_CURSOR", "The cursor is malformed.") from None
        if not isinstance(decoded, list) or not decoded or not all(map(_scalar, decoded)):
            raise _bad("BAD_CURSOR", "The cursor is malformed.")
        query, *parts = decoded
        if not isinstance(query, str) or query != fingerprint:
            raise _bad(
                "CURSOR_FOR_ANOTHER_QUERY",
                "The cursor belongs to another query; page with the arguments it came from.",
            )
        return list(parts)

    def _checked(self, cursor: str) -> bytes:
        try:
            raw = _b64decode(cursor)
        except (binascii.Error, ValueError):
            raise _bad("BAD_CURSOR", "The cursor is not one this API issued.") from None
        body, mac = raw[:-_MAC_SIZE], raw[-_MAC_SIZE:]
        if len(raw) <= _MAC_SIZE or not hmac.compare_digest(mac, self._mac(body)):
            raise _bad("BAD_CURSOR", "The cursor is not one this API issued.")
        return body

    def decode(self, cursor: str, fingerprint: str) -> SortKey:
        """The position in ``cursor``, if it is genuine and belongs to this query."""
        parts = self.decode_parts(cursor, fingerprint)
        if len(parts) != 2 or type(parts[0]) is not int or not isinstance(parts[1], str):
            raise _bad("BAD_CURSOR", "The cursor is malformed.")
        return parts[0], parts[1]
