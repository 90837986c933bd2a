"""Issue 8, "Connection churn leaks": nothing is kept per connection once it is gone.

Thousands of unauthenticated streams are opened and dropped against an in-process server;
afterwards no driver survives a garbage collection and the traced memory is back within a
few MiB of where it started (before the fix, the c2s login timer kept every driver, its
parser and its transport alive for the whole login timeout).
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
import weakref
from typing import Any

import pytest

from tests.clients import RawClient, header
from tests.support.waiting import wait_for
from xmppd import c2s

pytestmark = pytest.mark.django_db(transaction=True)
CONNECTIONS = 2000
AT_ONCE = 25  # below the per-address limit of unbound streams
MIB = 1024 * 1024


async def _churn_one(srv: Any) -> None:
    raw = await RawClient.open(srv.host, srv.port)
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    raw.writer.transport.abort()  # dropped, no </stream:stream>: the rudest case


async def _churn(srv: Any, count: int) -> None:
    for _ in range(count // AT_ONCE):
        await asyncio.gather(*(_churn_one(srv) for _ in range(AT_ONCE)))


async def _settled(srv: Any) -> None:
    await wait_for(lambda: not srv.runner.listeners[0].connections and len(getattr(srv.server, "unauth_per_ip", ())) == 0,
                   timeout=10, what="every connection gone")


async def test_dropped_connections_leave_nothing_behind(make_server: Any, monkeypatch: Any) -> None:
    srv = await make_server(login_timeout=120.0)
    drivers: list[weakref.ref] = []
    original = c2s.C2SDriver.__init__

    def tracked(self: c2s.C2SDriver, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        drivers.append(weakref.ref(self))

    monkeypatch.setattr(c2s.C2SDriver, "__init__", tracked)
    await _churn(srv, 200)  # warm-up: caches, free lists and the like reach their size
    await _settled(srv)
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        await _churn(srv, CONNECTIONS)
        await _settled(srv)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert len(drivers) == CONNECTIONS + 200

    def alive() -> int:
        gc.collect()
        return sum(ref() is not None for ref in drivers)

    # The last consumers may still be finishing (a cancelled channel-layer task in a cluster):
    # every driver must be gone within moments, none kept for the login timeout.
    await wait_for(lambda: alive() == 0, timeout=5, what="every driver collected")
    assert grown < 3 * MIB, f"{grown / MIB:.1f} MiB kept after {CONNECTIONS} connections"
