"""A local SAP S/4HANA that speaks OData V4 and V2 and misbehaves on request.

Raw ASGI (no framework) so that a fault can be exactly what a real server does: a reset in
the middle of a body, a body that is not JSON, a 429 with Retry-After. Records are computed
from their index (``ChangedDateTime`` increases with it), so 200,000 of them cost no memory.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

V4_ROOT = "/sap/opu/odata4/sap/api_qualitynotification/srvd_a2x/sap/qualitynotification/0001"
V2_ROOT = "/sap/opu/odata/sap/API_QUALITYNOTIFICATION"
BASE = datetime(2024, 5, 1, tzinfo=UTC)
TYPES = ("Q1", "Q2", "Q3", "F2")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _v2_date(moment: datetime) -> str:
    return f"/Date({int(moment.timestamp() * 1000)})/"


@dataclass
class FakeSap:
    count: int = 50
    faults: list[str] = field(default_factory=list)
    #: Faults served on the request for a given page offset ($skiptoken), once each.
    faults_at: dict[int, list[str]] = field(default_factory=dict)
    overrides: dict[int, dict[str, Any]] = field(default_factory=dict)
    page_delay: float = 0.0
    require_token: bool = False
    token_failures: int = 0
    token_lifetime: int = 3600
    #: A $filter value older than this is answered with 410 Gone (an expired delta).
    delta_horizon: datetime | None = None
    requests: list[str] = field(default_factory=list)
    tokens_issued: int = 0
    #: More entity sets by name (tasks, causes, …): records whose datetime and date values
    #: are rendered per protocol; ``$orderby`` sorts, ``ChangedDateTime gt`` filters.
    entity_sets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _filtered: dict[str, list[int]] = field(default_factory=dict)
    #: ``prerender()``: every V4 record's JSON, so that serving a page costs a join.
    _rendered: list[bytes] | None = None

    def prerender(self) -> None:
        """Render every record once (the bench: the source's CPU is not what it measures)."""
        self._rendered = [json.dumps(self.record(i)).encode() for i in range(self.count)]

    def changed(self, i: int) -> datetime:
        stamp = self.overrides.get(i, {}).get("_changed")
        return stamp if stamp is not None else BASE + timedelta(seconds=i)

    def record(self, i: int, v2: bool = False) -> dict[str, Any]:
        created = BASE + timedelta(seconds=i) - timedelta(days=3)
        changed = self.changed(i)
        date = _v2_date if v2 else (lambda d: d.date().isoformat())
        rec: dict[str, Any] = {
            "QualityNotification": f"{200000000 + i}",
            "NotificationType": TYPES[i % len(TYPES)],
            "NotificationText": f"Nonconforming part in lot {4700 + i}",
            "NotificationPriorityType": "QM",
            "NotificationPriority": str(i % 4 + 1),
            "NotifProcessingPhase": "1",
            "NotificationStatusObject": f"QM{i:012d}",
            "IsDeleted": False,
            "CreationDate": _v2_date(created) if v2 else created.isoformat().replace("+00:00", "Z"),
            "NotificationRequiredEndDate": date(created + timedelta(days=30)),
            "ChangedDateTime": (
                f"/Date({int(changed.timestamp() * 1000)}+0000)/"
                if v2
                else changed.isoformat().replace("+00:00", "Z")
            ),
            "CreatedByUser": "QM_CLERK",
            "LastChangedByUser": "QM_ENGINEER",
            "Material": f"MAT-{i % 97}",
            "Plant": "1010",
            "Supplier": f"1730{i % 13:04d}",
        }
        rec.update({k: v for k, v in self.overrides.get(i, {}).items() if not k.startswith("_")})
        return rec

    def matching(self, filter_text: str | None) -> list[int] | range:
        if not filter_text:
            return range(self.count)
        # Cached for the bench's 200,000 records; tests change records, so key by overrides.
        key = f"{filter_text}|{sorted(self.overrides)}|{self.count}"
        cached = self._filtered.get(key)
        if cached is None:
            since = _since(filter_text)
            cached = [i for i in range(self.count) if self.changed(i) > since]
            self._filtered[key] = cached
        return cached

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = scope["path"]
        query = dict(parse_qsl(scope["query_string"].decode()))
        self.requests.append(f"{path}?{scope['query_string'].decode()}")
        if path == "/oauth/token":
            await self._token(receive, send)
            return
        if self.require_token:
            headers = dict(scope["headers"])
            if not headers.get(b"authorization", b"").startswith(b"Bearer tok-"):
                await _send(send, 401, b'{"error": "invalid_token"}')
                return
        v2 = path.startswith(V2_ROOT)
        entity_set = path.rsplit("/", 1)[-1]
        if entity_set != "QualityNotification" and entity_set not in self.entity_sets:
            await _send(send, 404, b'{"error": {"code": "404", "message": "no such entity set"}}')
            return
        skip = int(query.get("$skiptoken", "0"))
        pending = self.faults_at.get(skip)
        fault = pending.pop(0) if pending else (self.faults.pop(0) if self.faults else None)
        if fault is not None and await self._fault(fault, send):
            return
        if self.page_delay:
            await asyncio.sleep(self.page_delay)
        filter_text = query.get("$filter")
        if filter_text and self.delta_horizon and _since(filter_text) < self.delta_horizon:
            await _send(send, 410, b'{"error": {"code": "DELTA_EXPIRED"}}')
            return
        top = int(query.get("$top", "100"))
        if entity_set == "QualityNotification" and not v2 and self._unfiltered(filter_text):
            await _send(send, 200, self._rendered_page(query, path, skip, top))
            return
        if entity_set == "QualityNotification":
            ids = self.matching(filter_text)
            total = len(ids)
            page = [self.record(i, v2) for i in ids[skip : skip + top]]
        else:
            rows = self.children(entity_set, filter_text, query.get("$orderby"))
            total = len(rows)
            page = [{k: _wire(v, v2) for k, v in r.items()} for r in rows[skip : skip + top]]
        following = None
        if skip + top < total:
            nq = {k: v for k, v in query.items() if k != "$skiptoken"}
            nq["$skiptoken"] = str(skip + top)
            following = f"{path}?{urlencode(nq)}"
        if v2:
            body: dict[str, Any] = {"d": {"results": page}}
            if following:
                body["d"]["__next"] = f"http://{_host(scope)}{following}"
        else:
            body = {"@odata.context": f"$metadata#{entity_set}", "value": page}
            if following:
                body["@odata.nextLink"] = following.rsplit("/", 1)[1]
        await _send(send, 200, json.dumps(body).encode())

    def _unfiltered(self, filter_text: str | None) -> bool:
        return self._rendered is not None and not filter_text and not self.overrides

    def _rendered_page(self, query: dict[str, str], path: str, skip: int, top: int) -> bytes:
        """The body ``json.dumps`` would write for this V4 page, from prerendered records."""
        assert self._rendered is not None
        parts = [
            b'{"@odata.context": "$metadata#QualityNotification", "value": [',
            b", ".join(self._rendered[skip : skip + top]),
            b"]",
        ]
        if skip + top < self.count:
            nq = {k: v for k, v in query.items() if k != "$skiptoken"}
            nq["$skiptoken"] = str(skip + top)
            following = f"{path}?{urlencode(nq)}".rsplit("/", 1)[1]
            parts.append(b', "@odata.nextLink": ' + json.dumps(following).encode())
        parts.append(b"}")
        return b"".join(parts)

    def children(
        self, entity_set: str, filter_text: str | None, order: str | None
    ) -> list[dict[str, Any]]:
        rows = self.entity_sets[entity_set]
        if filter_text:
            since = _since(filter_text)
            rows = [r for r in rows if r["ChangedDateTime"] > since]
        if order:
            fields = [f.strip() for f in order.split(",")]
            rows = sorted(rows, key=lambda r: tuple(str(r.get(f, "")) for f in fields))
        return rows

    async def _fault(self, fault: str, send: Send) -> bool:
        if fault == "429":
            await _send(send, 429, b"{}", [(b"retry-after", b"1")])
        elif fault in ("500", "502", "503"):
            await _send(send, int(fault), b'{"error": "busy"}')
        elif fault == "400":
            await _send(send, 400, b'{"error": {"code": "BAD_FILTER", "message": "bad"}}')
        elif fault == "timeout":
            await asyncio.sleep(2.0)
            await _send(send, 200, b'{"value": []}')
        elif fault == "malformed":
            await _send(send, 200, b'{"value": [{"QualityNotification": "1"')
        elif fault == "reset":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"100000"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b'{"value": [', "more_body": True})
            raise ConnectionResetError("fake reset mid-page")
        else:
            return False
        return True

    async def _token(self, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if self.token_failures > 0:
            self.token_failures -= 1
            await _send(send, 503, b'{"error": "temporarily_unavailable"}')
            return
        form = dict(parse_qsl(body.decode()))
        if form.get("client_secret") != "s3cret":
            await _send(send, 401, b'{"error": "invalid_client"}')
            return
        self.tokens_issued += 1
        token = {
            "access_token": f"tok-{self.tokens_issued}",
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
        }
        await _send(send, 200, json.dumps(token).encode())


def _wire(value: Any, v2: bool) -> Any:
    """A datetime or date as SAP sends it: V2 ``/Date(ms)/``, V4 ISO 8601."""
    if isinstance(value, datetime):
        return _v2_date(value) if v2 else value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        midnight = datetime(value.year, value.month, value.day, tzinfo=UTC)
        return _v2_date(midnight) if v2 else value.isoformat()
    return value


def _since(filter_text: str) -> datetime:
    value = filter_text.split(" gt ", 1)[1].strip()
    value = value.removeprefix("datetimeoffset'").removeprefix("datetime'").rstrip("'")
    return datetime.fromisoformat(value)


def _host(scope: Scope) -> str:
    server = scope.get("server") or ("127.0.0.1", 80)
    return f"{server[0]}:{server[1]}"


async def _send(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """uvicorn serving ``app`` on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="critical",
            lifespan="off",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake SAP server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


def main() -> None:
    """``python -m tests.connectors.fake_sap PORT COUNT``: serve in the foreground (bench)."""
    import sys

    import uvicorn

    port, count = int(sys.argv[1]), int(sys.argv[2])
    app = FakeSap(count=count)
    app.prerender()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="off",
        access_log=False,
    )


if __name__ == "__main__":
    main()
