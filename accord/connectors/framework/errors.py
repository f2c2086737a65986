"""How a source can fail: retriable (try again later) or fatal (a person must act)."""

from __future__ import annotations

from accord.platform.errors import AccordError, ErrorCode


class SourceError(AccordError):
    code = ErrorCode.INTERNAL


class RetriableError(SourceError):
    """429, 5xx, timeouts, resets, truncated or malformed bodies: worth another attempt."""

    def __init__(self, message: str, *, reason: str, retry_after: float | None = None) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


class FatalError(SourceError):
    """Any other 4xx (bad credentials, bad filter, gone): retrying cannot help."""

    def __init__(
        self, message: str, *, reason: str, status: int | None = None, body: str = ""
    ) -> None:
        super().__init__(message, reason=reason)
        self.status = status
        self.body = body


class DeltaExpired(FatalError):
    """The source no longer honours our bookmark (410 Gone): a full resync is needed."""
