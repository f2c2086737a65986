"""The dashboard's tally cache: what a notification or a listener gap must drop, and what
a read overtaken by a change must not store."""

from __future__ import annotations

from datetime import date

from accord.compliance.sharing.dashboard import CountsCache, _Tallied
from accord.platform.notifications import Notification, NotificationHub

TODAY = date(2026, 11, 22)


def note(schema: str) -> Notification:
    return Notification("home", "accord_events", {"schema": schema, "first": 1, "last": 1})


def filled(cache: CountsCache) -> None:
    stamp = cache.stamp(["a", "b", "c"])
    cache.keep(
        "home",
        stamp,
        {"a": _Tallied({("minor", "open"): 1}, {}), "b": _Tallied({}, {})},
        {"a": 2},
        TODAY,
    )
    cache.keep("second", cache.stamp(["c"]), {"c": _Tallied({}, {})}, {}, TODAY)


async def test_a_change_drops_only_its_owner() -> None:
    hub = NotificationHub(dict)
    cache = CountsCache(hub)
    filled(cache)
    assert set(cache.findings) == {"a", "b", "c"} and cache.overdue == {"a": (TODAY, 2)}
    cache.on_note(note("t_a"))
    cache.on_note(note("catalog"))  # not a tenant schema: nothing to drop
    assert set(cache.findings) == {"b", "c"} and cache.overdue == {}
    await hub.close()


async def test_a_gap_drops_the_store_and_refuses_reads_that_spanned_it() -> None:
    hub = NotificationHub(dict)
    cache = CountsCache(hub)
    filled(cache)
    before = cache.stamp(["b"])
    cache.on_gap("home")
    assert set(cache.findings) == {"c"}, "the other store's owners stay"
    cache.keep("home", before, {"b": _Tallied({("x", "open"): 1}, {})}, {}, TODAY)
    assert "b" not in cache.findings, "read before the gap: not stored"
    await hub.close()


async def test_a_read_overtaken_by_a_change_is_not_stored() -> None:
    hub = NotificationHub(dict)
    cache = CountsCache(hub)
    stamp = cache.stamp(["a", "b"])
    cache.on_note(note("t_a"))  # a's change committed while the read ran
    cache.keep(
        "home", stamp, {"a": _Tallied({("old", "open"): 1}, {}), "b": _Tallied({}, {})}, {}, TODAY
    )
    assert set(cache.findings) == {"b"}
    await hub.close()


async def test_a_store_is_not_served_from_the_cache_unless_its_listener_is_up() -> None:
    hub = NotificationHub(dict)
    cache = CountsCache(hub)
    assert not cache.usable("home")
    await hub.close()
