"""Paginators: where a page's records are and which URL comes next (None: pass complete)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from accord.connectors.framework.errors import RetriableError


def _records(body: Any, *path: str) -> list[dict[str, Any]]:
    node = body
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, list):
        # A 200 without the envelope is a broken response (proxy page, truncation): retry.
        raise RetriableError(f"no {'/'.join(path)} array in the response", reason="BAD_ENVELOPE")
    return node


class Paginator:
    def first_params(self, page_size: int) -> dict[str, str]:
        return {}

    def records(self, body: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    def next_url(self, body: Any, url: str) -> str | None:
        raise NotImplementedError


class ODataV4NextLink(Paginator):
    """``{"value": [...], "@odata.nextLink": "..."}``; server-driven paging."""

    def first_params(self, page_size: int) -> dict[str, str]:
        return {"$top": str(page_size)}

    def records(self, body: Any) -> list[dict[str, Any]]:
        return _records(body, "value")

    def next_url(self, body: Any, url: str) -> str | None:
        link = body.get("@odata.nextLink")
        return _absolute(link, url) if link else None


class ODataV4DeltaLink(ODataV4NextLink):
    """OData change tracking (Dataverse ``Prefer: odata.track-changes``).

    The page size is the server's (``Prefer: odata.maxpagesize``: ``$top`` is refused with
    track-changes); pages follow ``@odata.nextLink``; the last page carries
    ``@odata.deltaLink``, where the next pass asks for changes only. A delta response lists
    removed entities as ``{"@odata.context": "…/$deletedEntity", "id": …, "reason":
    "deleted"}`` among the changed ones: ``records`` leaves them out, ``removed`` names them.
    """

    def first_params(self, page_size: int) -> dict[str, str]:
        return {}

    def records(self, body: Any) -> list[dict[str, Any]]:
        return [row for row in _records(body, "value") if not _is_removed(row)]

    def removed(self, body: Any) -> list[str]:
        """Keys of entities deleted at the source (``reason: changed`` only left the set)."""
        return [
            str(row["id"])
            for row in _records(body, "value")
            if _is_removed(row) and row.get("id") and row.get("reason", "deleted") == "deleted"
        ]

    def delta_link(self, body: Any, url: str) -> str | None:
        link = body.get("@odata.deltaLink")
        return _absolute(link, url) if link else None


def _is_removed(row: dict[str, Any]) -> bool:
    return str(row.get("@odata.context", "")).endswith("$deletedEntity")


class ODataV2Next(Paginator):
    """``{"d": {"results": [...], "__next": "..."}}`` (SAP Gateway)."""

    def first_params(self, page_size: int) -> dict[str, str]:
        return {"$top": str(page_size), "$format": "json"}

    def records(self, body: Any) -> list[dict[str, Any]]:
        return _records(body, "d", "results")

    def next_url(self, body: Any, url: str) -> str | None:
        link = (body.get("d") or {}).get("__next")
        return _absolute(link, url) if link else None


class OffsetHasMore(Paginator):
    """``{"items": [...], "hasMore": true, "offset": 0, "limit": 25}`` (Oracle REST)."""

    def __init__(self, items_key: str = "items") -> None:
        self.items_key = items_key

    def first_params(self, page_size: int) -> dict[str, str]:
        return {"limit": str(page_size), "offset": "0"}

    def records(self, body: Any) -> list[dict[str, Any]]:
        return _records(body, self.items_key)

    def next_url(self, body: Any, url: str) -> str | None:
        if not body.get("hasMore"):
            return None
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        count = len(self.records(body))
        query["offset"] = str(int(query.get("offset", "0")) + count)
        return urlunsplit(parts._replace(query=urlencode(query)))


def _absolute(link: str, current: str) -> str:
    if link.startswith(("http://", "https://")):
        return link
    parts = urlsplit(current)
    if link.startswith("/"):
        return urlunsplit((parts.scheme, parts.netloc, *urlsplit(link)[2:]))
    # OData allows links relative to the service root; resolve against the current path.
    base = parts.path.rsplit("/", 1)[0]
    target = urlsplit(link)
    path = f"{base}/{target.path}" if target.path else parts.path
    return urlunsplit((parts.scheme, parts.netloc, path, target.query, ""))
