"""A local Dataverse environment: its Web API (OData v4 with change tracking) and the Entra
ID token endpoint that guards it, on one loopback server.

Raw ASGI, as ``fake_sap``. Every row carries a row version (Dataverse's ``versionnumber``);
a delta token is the version it was issued at, so following a delta link lists the rows
changed since and, as ``$deletedEntity``, the rows deleted since. A token older than
``oldest_token`` is refused with ``ExpiredVersionStamp`` (``0x80044352``), as Dataverse
refuses one older than the organisation's retention. Bearer tokens are JWT-shaped, signed
with a key only the fake knows, and checked (signature, audience, expiry) on every call.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

API = "/api/data/v9.2"
ENTITY_SET = "cr_auditfindings"
KEY = "cr_auditfindingid"
TENANT = "5b2d9c40-3f6e-4a8b-9d1c-7e0f2a4b6c8d"
CLIENT_ID = "a1c3e5f7-2b4d-4f6a-8c0e-1d3f5b7a9c2e"
CLIENT_SECRET = "kQ8~x2.fakeClientSecretValue_0123"
TOKEN_PATH = f"/{TENANT}/oauth2/v2.0/token"
FORMATTED = "@OData.Community.Display.V1.FormattedValue"
BASE = datetime(2024, 5, 1, 8, tzinfo=UTC)
_SIGNING_KEY = b"fake-entra-signing-key"
_NAMESPACE = uuid.UUID("0d9c1a52-6e4b-4c3f-8a71-2f5e9b0c4d63")

EXPIRED = {
    "error": {
        "code": "0x80044352",
        "message": "Version stamp associated with the client has expired. "
        "Please perform a full sync.",
    }
}
THROTTLED = {
    "error": {
        "code": "0x80072322",
        "message": "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
    }
}

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def guid(i: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"finding-{i}"))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _aad_error(error: str, code: int, description: str) -> dict[str, Any]:
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {description}",
        "error_codes": [code],
        "timestamp": "2024-05-01 08:00:00Z",
        "trace_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
    }


def _prefer(header: str) -> dict[str, str]:
    prefs: dict[str, str] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name:
            prefs[name.strip().lower()] = value.strip().strip('"')
    return prefs


@dataclass
class FakeDataverse:
    #: The environment URL (scheme://host:port), which is the token audience and scope.
    org: str = ""
    #: Row index -> version of its last change (live rows).
    live: dict[int, int] = field(default_factory=dict)
    #: Row index -> version of its deletion.
    deleted: dict[int, int] = field(default_factory=dict)
    overrides: dict[int, dict[str, Any]] = field(default_factory=dict)
    version: int = 919000
    #: Delta tokens issued below this version are refused as expired.
    oldest_token: int = 0
    #: Data request number (0-based) -> fault served instead of the answer, once.
    faults: dict[int, str] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    token_forms: list[dict[str, str]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    tokens_issued: int = 0

    # -- the table, as a test changes it -------------------------------------------------

    def _bump(self) -> int:
        self.version += 1
        return self.version

    def create(self, *indices: int) -> None:
        for i in indices:
            self.live[i] = self._bump()
            self.deleted.pop(i, None)

    def change(self, i: int, **columns: Any) -> None:
        assert i in self.live, f"row {i} is not live"
        self.overrides.setdefault(i, {}).update(columns)
        self.live[i] = self._bump()

    def delete(self, i: int) -> None:
        del self.live[i]
        self.deleted[i] = self._bump()

    def restore(self, i: int) -> None:
        """Dataverse restores a deleted row with its id (recycle bin): a change like any."""
        self.create(i)

    def hide(self, i: int) -> None:
        """The integration user loses access to a live row: deltas report it deleted."""
        self.deleted[i] = self._bump()

    def unhide(self, i: int) -> None:
        """Access is back: full passes list the row again, exactly as it was."""
        del self.deleted[i]

    def modified(self, i: int) -> datetime:
        return BASE + timedelta(days=1, seconds=self.live[i] - 919000)

    def row(self, i: int, annotations: bool) -> dict[str, Any]:
        created = BASE + timedelta(hours=i)
        version = self.live[i]
        row: dict[str, Any] = {
            "@odata.etag": f'W/"{version}"',
            KEY: guid(i),
            "cr_findingnumber": f"AF-{1000 + i}",
            "cr_name": f"Calibration record missing for gauge G-{100 + i}",
            "cr_description": f"Gauge G-{100 + i} was used on line 3 without a valid "
            "calibration record.",
            "cr_grade": 100000000 + i % 3,
            "cr_severity": 100000000 + i % 4,
            "cr_clausekeys": "iso9001:2015/7.1.5",
            "cr_criteria": "ISO 9001:2015 7.1.5 Monitoring and measuring resources",
            "cr_rootcause": None,
            "cr_responsedue": (created + timedelta(days=30)).date().isoformat(),
            "cr_findingstatus": 100000000,
            "createdon": _iso(created),
            "modifiedon": _iso(self.modified(i)),
            "versionnumber": version,
            "statecode": 0,
            "statuscode": 1,
            "_createdby_value": "9e7c5a31-0b2d-4f6e-8a1c-3d5b7f9e1a2c",
            f"_createdby_value{FORMATTED}": "Dana Whitfield",
            "_ownerid_value": "c4a2e6b8-1d3f-4b5a-9c7e-0f2d4b6a8c1e",
            f"_ownerid_value{FORMATTED}": "Quality Assurance Team",
        }
        row.update(self.overrides.get(i, {}))
        if not annotations:
            row = {k: v for k, v in row.items() if FORMATTED not in k}
        return row

    # -- the wire ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if path == TOKEN_PATH and method == "POST":
            await self._token(headers, await _body(receive), send)
            return
        if not path.startswith(API + "/"):
            await _send(send, 404, {})
            return
        raw_query = scope["query_string"].decode()
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        number = len(self.requests)
        self.requests.append({"path": path, "raw": raw_query, "query": query, "headers": headers})
        fault = self.faults.pop(number, None)
        if fault == "429":
            await _send(send, 429, THROTTLED, [(b"retry-after", b"1")])
            return
        if fault == "revoke":
            self.tokens.clear()
        if not self._authorized(headers.get("authorization", "")):
            challenge = (
                f"Bearer authorization_uri=https://login.microsoftonline.com/{TENANT}"
                f"/oauth2/authorize, resource_id={self.org}/"
            )
            await _send(send, 401, None, [(b"www-authenticate", challenge.encode())])
            return
        if path != f"{API}/{ENTITY_SET}":
            segment = path.rsplit("/", 1)[1]
            await _send(
                send, 404, _error("0x80060888", f"Resource not found for the segment '{segment}'.")
            )
            return
        if "$skip" in query:
            await _send(
                send, 400, _error("0x80060888", "The query parameter $skip is not supported")
            )
            return
        prefer = _prefer(headers.get("prefer", ""))
        tracking = "odata.track-changes" in prefer
        if tracking and {"$top", "$filter", "$orderby"} & set(query):
            message = "$filter, $orderby and $top are not supported with change tracking."
            await _send(send, 400, _error("0x80060888", message))
            return
        size = min(int(prefer.get("odata.maxpagesize") or 5000), 5000)
        annotations = "OData.Community.Display.V1.FormattedValue" in prefer.get(
            "odata.include-annotations", ""
        )
        token = query.get("$deltatoken")
        context = f"{self.org}{API}/$metadata#{ENTITY_SET}"
        if token is not None:
            since = int(unquote(token).split("!", 1)[0])
            if since < self.oldest_token:
                await _send(send, 400, EXPIRED)
                return
            rows = self._delta(since, annotations, context)
            context += "/$delta"
        else:
            rows = [self.row(i, annotations) for i in sorted(self.live, key=guid)]
        page = 1
        if "$skiptoken" in query:
            match = re.search(r'pagenumber="(\d+)"', query["$skiptoken"])
            assert match is not None, query["$skiptoken"]
            page = int(match[1])
        chunk = rows[(page - 1) * size : page * size]
        body: dict[str, Any] = {"@odata.context": context, "value": chunk}
        kept = "&".join(
            f"{k}={quote(v, safe=',')}" for k, v in query.items() if k not in ("$skiptoken",)
        )
        if page * size < len(rows):
            body["@odata.nextLink"] = (
                f"{self.org}{path}?{kept + '&' if kept else ''}$skiptoken="
                + quote(_cookie(page + 1, chunk), safe="")
            )
        elif tracking:
            stamp = f"{self.version}!{BASE.strftime('%m/%d/%Y %H:%M:%S')}"
            select = f"$select={quote(query['$select'], safe=',')}&" if "$select" in query else ""
            body["@odata.deltaLink"] = (
                f"{self.org}{path}?{select}$deltatoken={quote(stamp, safe='')}"
            )
        applied = [f"odata.maxpagesize={size}"] + (["odata.track-changes"] if tracking else [])
        await _send(send, 200, body, [(b"preference-applied", ", ".join(applied).encode())])

    def _delta(self, since: int, annotations: bool, context: str) -> list[dict[str, Any]]:
        changes: list[tuple[int, dict[str, Any]]] = [
            (v, self.row(i, annotations)) for i, v in self.live.items() if v > since
        ]
        changes += [
            (
                v,
                {
                    "@odata.context": f"{context}/$deletedEntity",
                    "id": guid(i),
                    "reason": "deleted",
                },
            )
            for i, v in self.deleted.items()
            if v > since
        ]
        return [row for _, row in sorted(changes, key=lambda c: c[0])]

    def _authorized(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or token not in self.tokens:
            return False
        head, payload, signature = token.split(".")
        expected = hmac.new(_SIGNING_KEY, f"{head}.{payload}".encode(), hashlib.sha256).digest()
        claims = json.loads(_unb64(payload))
        return (
            hmac.compare_digest(_unb64(signature), expected)
            and claims["aud"] == self.org
            and claims["tid"] == TENANT
            and claims["exp"] > time.time()
        )

    async def _token(self, headers: dict[str, str], body: bytes, send: Send) -> None:
        form = dict(parse_qsl(body.decode()))
        self.token_forms.append(form)
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            error = _aad_error(
                "invalid_request", 900144, "The request body must contain form data."
            )
            await _send(send, 400, error)
            return
        if form.get("grant_type") != "client_credentials":
            error = _aad_error("unsupported_grant_type", 70003, "The grant type is not supported.")
            await _send(send, 400, error)
            return
        if form.get("client_id") != CLIENT_ID:
            error = _aad_error(
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found in the "
                f"directory '{TENANT}'.",
            )
            await _send(send, 400, error)
            return
        if form.get("client_secret") != CLIENT_SECRET:
            error = _aad_error(
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request "
                f"is the client secret value, not the client secret ID, for a secret added to "
                f"app '{CLIENT_ID}'.",
            )
            await _send(send, 401, error)
            return
        if form.get("scope") != f"{self.org}/.default":
            error = _aad_error(
                "invalid_scope",
                1002012,
                f"The provided value for scope {form.get('scope')} is not valid. Client "
                "credential flows must have a scope value with /.default suffixed to the "
                "resource identifier (application ID URI).",
            )
            await _send(send, 400, error)
            return
        now = int(time.time())
        self.tokens_issued += 1
        claims = {
            "aud": self.org,
            "iss": f"https://sts.windows.net/{TENANT}/",
            "iat": now,
            "nbf": now,
            "exp": now + 3599,
            "appid": CLIENT_ID,
            "tid": TENANT,
            "oid": str(uuid.uuid4()),
            "ver": "1.0",
        }
        head = _b64(json.dumps({"typ": "JWT", "alg": "RS256", "kid": "fake"}).encode())
        payload = _b64(json.dumps(claims).encode())
        signature = hmac.new(_SIGNING_KEY, f"{head}.{payload}".encode(), hashlib.sha256)
        token = f"{head}.{payload}.{_b64(signature.digest())}"
        self.tokens.add(token)
        answer = {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599}
        await _send(send, 200, {**answer, "access_token": token})


def _cookie(page: int, chunk: list[dict[str, Any]]) -> str:
    """Dataverse's paging cookie: the page to serve and the keys around the one served."""
    keys = [r.get(KEY) or r.get("id") for r in chunk]
    inner = (
        f'<cookie page="{page - 1}"><{KEY} last="{{{keys[-1]}}}" first="{{{keys[0]}}}" /></cookie>'
    )
    return (
        f'<cookie pagenumber="{page}" pagingcookie="{quote(inner, safe="")}" istracking="True" />'
    )


async def _body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _send(
    send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = b"" if body is None else json.dumps(body).encode()
    content_type = b"application/json; odata.metadata=minimal"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"odata-version", b"4.0"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
