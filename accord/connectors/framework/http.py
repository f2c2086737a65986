"""The HTTP side of a source: one httpx client, retries with backoff, a concurrency limit.

Retriable failures (429, 5xx, timeouts, connection resets, truncated or malformed JSON) are
retried with exponential backoff and full jitter, honouring ``Retry-After``; anything else
in 4xx is fatal at once and carries the response body for the run log. A 401 is retried
once after the authenticator forgets its token (it may just have expired).
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from accord.connectors.framework.auth import Authenticator
from accord.connectors.framework.errors import (
    DeltaExpired,
    FatalError,
    RetriableError,
    SourceError,
)
from accord.platform import telemetry
from accord.platform.telemetry import AttributeValue

_BODY_IN_LOG = 2000


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6
    base_seconds: float = 0.5
    max_seconds: float = 60.0
    #: Longest Retry-After we obey; a server asking for longer fails the page (retried next run).
    max_retry_after: float = 300.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        # Full jitter: spreads out clients that failed together, so they do not retry together.
        return random.uniform(0, min(self.max_seconds, self.base_seconds * 2**attempt))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    import datetime as dt

    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def classify(response: httpx.Response) -> None:
    """Raise the error type a non-2xx response stands for."""
    status = response.status_code
    if status < 400:
        return
    body = response.text[:_BODY_IN_LOG]
    if status == 429 or status >= 500:
        raise RetriableError(
            f"HTTP {status} from {response.request.url}",
            reason=f"HTTP_{status}",
            retry_after=_retry_after(response),
        )
    kind = DeltaExpired if status == 410 else FatalError
    raise kind(
        f"HTTP {status} from {response.request.url}: {body}",
        reason=f"HTTP_{status}",
        status=status,
        body=body,
    )


class SourceClient:
    """What streams use to talk to a source; one per sync run."""

    def __init__(
        self,
        *,
        base_url: str,
        auth: Authenticator,
        timeout: float = 30.0,
        concurrency: int = 4,
        retry: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.retry = retry or RetryPolicy()
        self.retries = 0
        self.log: list[dict[str, Any]] = []
        self._limit = asyncio.Semaphore(concurrency)
        self._client = httpx.AsyncClient(
            timeout=timeout, headers={"Accept": "application/json", **(headers or {})}
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    def url(self, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    async def _once(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None,
        data: dict[str, str] | None,
        authenticated: bool,
    ) -> httpx.Response:
        headers = await self.auth.headers(self._send_plain) if authenticated else {}
        async with self._limit:
            try:
                response = await self._client.request(
                    method, url, params=params, data=data, headers=headers
                )
            except httpx.TimeoutException as exc:
                raise RetriableError(f"timeout on {url}", reason="TIMEOUT") from exc
            except httpx.TransportError as exc:  # resets, refused, truncated bodies
                raise RetriableError(
                    f"{type(exc).__name__} on {url}", reason="CONNECTION_ERROR"
                ) from exc
        return response

    async def _with_retries(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
        authenticated: bool = True,
        parse: bool = False,
    ) -> tuple[httpx.Response, Any]:
        # The span names the call, not its URL: a query string may carry filters or keys.
        attributes: dict[str, AttributeValue] = {
            "http.request.method": method,
            "accord.authenticated": authenticated,
        }
        with telemetry.span("connector.request", attributes) as span:
            try:
                response, body = await self._attempts(
                    method, url, params=params, data=data, authenticated=authenticated, parse=parse
                )
            except SourceError as exc:
                telemetry.mark_failed(span, exc.reason)
                raise
            span.set_attribute("http.response.status_code", response.status_code)
            return response, body

    async def _attempts(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None,
        data: dict[str, str] | None,
        authenticated: bool,
        parse: bool,
    ) -> tuple[httpx.Response, Any]:
        reauthenticated = False
        attempt = 0
        while True:
            try:
                response = await self._once(
                    method, url, params=params, data=data, authenticated=authenticated
                )
                if response.status_code == 401 and authenticated and not reauthenticated:
                    reauthenticated = True
                    self.auth.invalidate()
                    telemetry.event("connector.reauthenticate")
                    continue
                classify(response)
                if not parse:
                    return response, None
                try:
                    return response, json.loads(response.content)
                except ValueError as exc:
                    raise RetriableError(f"malformed JSON from {url}", reason="BAD_JSON") from exc
            except RetriableError as exc:
                attempt += 1
                self.log.append({"url": url, "reason": exc.reason, "attempt": attempt})
                if attempt >= self.retry.attempts:
                    raise
                self.retries += 1
                delay = self.retry.delay(attempt, exc.retry_after)
                telemetry.event(
                    "connector.retry",
                    {
                        "accord.reason": exc.reason,
                        "accord.attempt": attempt,
                        "accord.delay_s": delay,
                    },
                )
                await asyncio.sleep(delay)

    async def _send_plain(
        self, method: str, url: str, data: dict[str, str] | None
    ) -> httpx.Response:
        response, _ = await self._with_retries(method, url, data=data, authenticated=False)
        return response

    def request_url(self, url: str, params: dict[str, str]) -> str:
        return str(self._client.build_request("GET", url, params=params).url)

    async def get_json(self, path_or_url: str, params: dict[str, str] | None = None) -> Any:
        _, body = await self._with_retries("GET", self.url(path_or_url), params=params, parse=True)
        return body

    async def get_bytes(self, path_or_url: str) -> bytes:
        response, _ = await self._with_retries("GET", self.url(path_or_url))
        return response.content
