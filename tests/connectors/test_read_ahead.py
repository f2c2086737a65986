"""Reading ahead (``engine._ahead``): pages come out in order, each with its preparation; an
error while reading comes out after the pages before it; stopping early stops the tasks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from accord.connectors.framework.errors import DeltaExpired
from accord.connectors.framework.streams import Page
from accord.connectors.sync import engine


def page(n: int) -> Page:
    return Page(records=[{"id": f"{n}-{i}"} for i in range(3)], cursor=str(n))


async def source(count: int, fail_after: int | None = None) -> AsyncIterator[Page]:
    for n in range(count):
        if fail_after is not None and n == fail_after:
            raise DeltaExpired("the delta link expired", reason="DELTA_EXPIRED")
        await asyncio.sleep(0.001 * (n % 3))  # replies of uneven latency
        yield page(n)


@pytest.fixture
def prepared(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Stands in for ``prepare_page_soon`` (its own tests cover it): records which page
    was prepared, and whether validation was asked for."""
    seen: list[tuple[str, bool]] = []

    async def prepare(
        ctx: Any, records: Sequence[dict[str, Any]], positions: Any, *, validate: bool
    ) -> Any:
        await asyncio.sleep(0.002)
        seen.append((records[0]["id"], validate))
        return ("prepared", records[0]["id"])

    monkeypatch.setattr(engine, "prepare_page_soon", prepare)
    return seen


async def test_pages_in_order_with_their_preparation(prepared: list[tuple[str, bool]]) -> None:
    ctx: Any = type("Ctx", (), {"stream": "s"})()
    expect = [True]
    out = []
    async for p, prep in engine._ahead(source(12), ctx, expect):
        out.append((p.cursor, prep))
        if p.cursor == "5":
            expect[0] = False  # the loop learnt that records are unchanged
    assert [c for c, _ in out] == [str(n) for n in range(12)]
    assert all(prep == ("prepared", f"{c}-0") for c, prep in out)
    # Pages already prepared ahead keep their validation; later ones are only hashed.
    assert prepared[0] == ("0-0", True) and prepared[-1] == ("11-0", False)


async def test_a_read_error_comes_after_the_pages_before_it(
    prepared: list[tuple[str, bool]],
) -> None:
    ctx: Any = type("Ctx", (), {"stream": "s"})()
    got = []
    with pytest.raises(DeltaExpired):
        async for p, _ in engine._ahead(source(10, fail_after=4), ctx, [True]):
            got.append(p.cursor)
    assert got == ["0", "1", "2", "3"]


async def test_stopping_early_stops_reading(prepared: list[tuple[str, bool]]) -> None:
    ctx: Any = type("Ctx", (), {"stream": "s"})()
    before = {t.get_name() for t in asyncio.all_tasks()}
    reader = engine._ahead(source(1000), ctx, [True])
    async for p, _ in reader:
        if p.cursor == "2":
            break
    await reader.aclose()
    left = {t.get_name() for t in asyncio.all_tasks()} - before
    assert not [name for name in left if name.startswith("accord-sync-")]
    # Bounded read-ahead: nowhere near the 1,000 pages the source has.
    assert len(prepared) <= 3 + engine.AHEAD + engine.FETCH_AHEAD + 1
