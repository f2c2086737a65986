"""A local Oracle Fusion Cloud Quality Management REST service (qualityIssues,
qualityActions) behind basic auth.

Raw ASGI, as ``fake_sap``. Paging by ``limit``/``offset`` with the ``items``, ``count``,
``hasMore``, ``limit``, ``offset``, ``links`` envelope; ``orderBy=Attr:desc,…``;
``q=Attr > 'literal'`` only under ``REST-Framework-Version`` 2 or later (version 1 reads
``q`` as query-by-example and refuses an operator, as Oracle does).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

ROOT = "/fscmRestApi/resources/11.13.18.05"
USER = "QM.INTEGRATION"
PASSWORD = "Fusion#Quality24"
BASE = datetime(2024, 5, 1, 8, tzinfo=UTC)
SEVERITIES = ("ORA_HIGH", "ORA_MEDIUM", "ORA_LOW", "ORA_CRITICAL")
TYPES = ("NONCONFORMANCE", "CUSTOMER_COMPLAINT", "SUPPLIER_ISSUE")
_Q = re.compile(r"^\s*(\w+)\s*(>=|>|<=|<|=)\s*'([^']*)'\s*$")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def issue_id(i: int) -> int:
    return 300000101234000 + i


def action_id(i: int) -> int:
    return 300000101987000 + i


@dataclass
class FakeOracle:
    count: int = 25
    #: Issue index -> columns replacing the computed ones; ``_updated`` moves LastUpdateDate.
    overrides: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)

    def updated(self, i: int) -> datetime:
        stamp = self.overrides.get(i, {}).get("_updated")
        return stamp if stamp is not None else BASE + timedelta(seconds=i)

    def issue(self, i: int) -> dict[str, Any]:
        reported = BASE - timedelta(days=2) + timedelta(hours=i)
        item: dict[str, Any] = {
            "IssueId": issue_id(i),
            "IssueNumber": f"QI-{5000 + i}",
            "Name": f"Burr on machined housing, lot {8800 + i}",
            "QualityTypeId": 300000046512000 + i % len(TYPES),
            "QualityTypeCode": TYPES[i % len(TYPES)],
            "Severity": SEVERITIES[i % len(SEVERITIES)],
            "Downtime": "N",
            "Source": "ORA_INSPECTION",
            "OrganizationId": 300000047274444,
            "OrganizationCode": "M1",
            "AssignedTo": "CASEY.BROWN",
            "Disposition": None,
            "ExpectedResolutionDate": (reported + timedelta(days=21)).date().isoformat(),
            "ReportedBy": "LEE.MORGAN",
            "ReportedDate": _stamp(reported),
            "StatusCode": "ORA_NEW",
            "CreationDate": _stamp(reported),
            "LastUpdateDate": _stamp(self.updated(i)),
        }
        item.update({k: v for k, v in self.overrides.get(i, {}).items() if not k.startswith("_")})
        return item

    def action(self, i: int) -> dict[str, Any]:
        submitted = BASE + timedelta(hours=i)
        return {
            "ActionId": action_id(i),
            "ActionAutonumber": f"QA-{700 + i}",
            "Name": f"Deburr fixture rework for lot {8800 + i}",
            "ActionTypeId": 300000046513001,
            "ActionTypeCode": "ORA_CORRECTIVE",
            "AssignedTo": "CASEY.BROWN",
            "DateSubmitted": _stamp(submitted),
            "DateReleased": None,
            "ActualResolutionDate": None,
            "LastUpdateDate": _stamp(submitted),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        query = dict(parse_qsl(scope["query_string"].decode(), keep_blank_values=True))
        self.requests.append({"path": path, "query": query, "headers": headers})
        if not self._authorized(headers.get("authorization", "")):
            await _send(send, 401, None, [(b"www-authenticate", b'Basic realm="Oracle"')])
            return
        resource = path.removeprefix(ROOT + "/")
        if resource == "qualityIssues":
            items = [self.issue(i) for i in range(self.count)]
        elif resource == "qualityActions":
            items = [self.action(i) for i in range(self.count)]
        else:
            await _send(send, 404, _error(404, f"Resource {resource} not found."))
            return
        if "q" in query:
            version = int(headers.get("rest-framework-version", "1"))
            match = _Q.match(query["q"])
            if match is None or version < 2:
                await _send(send, 400, _error(400, f"URL parameter q={query['q']} is not valid."))
                return
            name, operator, literal = match.groups()
            try:
                bound = datetime.fromisoformat(literal)
            except ValueError:
                await _send(send, 400, _error(400, f"{literal!r} is not a valid date."))
                return
            items = [
                it for it in items if _compare(datetime.fromisoformat(it[name]), operator, bound)
            ]
        for part in reversed([p for p in query.get("orderBy", "").split(",") if p]):
            name, _, direction = part.partition(":")
            items.sort(key=lambda it, n=name: it[n], reverse=direction == "desc")
        limit = min(int(query.get("limit", "25")), 500)
        offset = int(query.get("offset", "0"))
        page = items[offset : offset + limit]
        base = f"http://{_host(scope)}{path}"
        if query.get("onlyData") != "true":
            for item in page:
                key = item.get("IssueId") or item.get("ActionId")
                item["links"] = [
                    {"rel": "self", "href": f"{base}/{key}", "name": resource, "kind": "item"}
                ]
        body: dict[str, Any] = {
            "items": page,
            "count": len(page),
            "hasMore": offset + len(page) < len(items),
            "limit": limit,
            "offset": offset,
            "links": [{"rel": "self", "href": base, "name": resource, "kind": "collection"}],
        }
        if query.get("totalResults") == "true":
            body["totalResults"] = len(items)
        await _send(send, 200, body)

    def _authorized(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme != "Basic":
            return False
        return base64.b64decode(encoded).decode() == f"{USER}:{PASSWORD}"


def _compare(value: datetime, operator: str, bound: datetime) -> bool:
    return {
        ">": value > bound,
        ">=": value >= bound,
        "<": value < bound,
        "<=": value <= bound,
        "=": value == bound,
    }[operator]


def _error(status: int, detail: str) -> dict[str, Any]:
    return {
        "type": "http://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.1",
        "title": "Bad Request" if status == 400 else "Not Found",
        "status": str(status),
        "o:errorDetails": [{"detail": detail, "o:errorCode": "27502"}],
    }


def _host(scope: Scope) -> str:
    server = scope.get("server") or ("127.0.0.1", 80)
    return f"{server[0]}:{server[1]}"


async def _send(
    send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = b"" if body is None else json.dumps(body).encode()
    content_type = b"application/vnd.oracle.adf.resourcecollection+json"
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": payload})
