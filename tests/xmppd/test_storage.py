"""xmppd.storage: the login prefetch (one trip, failures isolated, results taken once) and
the write tracker that tells a prefetched copy from a stale one."""

from __future__ import annotations

import pytest

from xmppd.storage import Prefetch, Writes

pytestmark = pytest.mark.django_db(transaction=True)


def test_writes_trust_a_snapshot_only_when_nothing_was_written_since() -> None:
    writes = Writes()
    before = writes.snapshot()
    assert writes.is_unchanged(before)
    with writes.writing():
        assert writes.snapshot() is None  # a write under way: a read now may miss it
        assert not writes.is_unchanged(before)
    assert not writes.is_unchanged(before)
    after = writes.snapshot()
    assert writes.is_unchanged(after)
    writes.changed()  # a write seen elsewhere (another node)
    assert not writes.is_unchanged(after)
    assert not writes.is_unchanged(None)


async def test_prefetch_reads_in_one_trip_isolates_failures_and_gives_each_result_once() -> None:
    def broken() -> None:
        raise RuntimeError("no table")

    prefetch = Prefetch()
    await prefetch.ready()  # nothing added: nothing to wait for
    prefetch.add("a", lambda x: x * 2, 21)
    prefetch.add("b", broken)
    prefetch.start()
    await prefetch.ready()
    assert prefetch.take("a") == 42
    assert prefetch.take("a") is None  # taken once
    assert prefetch.take("b") is None  # failed: the module reads it itself
