"""Keyset pagination over items sorted by a (position, id) key, and Relay's PageInfo.

Items are ordered ascending by their key; a page holds the ``first`` items whose key
is strictly greater than the cursor's, so concurrent inserts never shift a page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

import strawberry

from accord.graphql.cursors import SortKey
from accord.platform.errors import BadInput

T = TypeVar("T")
MAX_PAGE = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


def newest_first(at: datetime, record_id: object) -> SortKey:
    """A key that sorts newer timestamps first, ties broken by id."""
    return -((at - _EPOCH) // timedelta(microseconds=1)), str(record_id)


def check_first(first: int) -> int:
    if not 1 <= first <= MAX_PAGE:
        raise BadInput(
            f"'first' is between 1 and {MAX_PAGE}.", reason="BAD_PAGE_SIZE", field="first"
        )
    return first


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[tuple[SortKey, T]]
    has_next: bool
    has_previous: bool


def keyset_page(
    items: Sequence[T], *, key: Callable[[T], SortKey], after: SortKey | None, first: int
) -> Page[T]:
    keyed = sorted(((key(item), item) for item in items), key=lambda pair: pair[0])
    following = [pair for pair in keyed if after is None or pair[0] > after]
    return Page(following[:first], len(following) > first, after is not None)
