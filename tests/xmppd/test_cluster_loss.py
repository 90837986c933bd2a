"""No silent loss between cluster nodes (xmppd/cluster.py): a full channel on the other node
(channels-redis refuses sends past its per-channel capacity) is waited for, in order; what
still cannot be handed over goes to the offline store or bounces, never into the void."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from typing import Any

import pytest

from tests.clients import RawClient
from tests.plugins.wire import raw_login
from tests.support.waiting import wait_for
from xmppcore.jid import JID
from tests.xmppd.test_cluster import redis_layer  # noqa: F401  (a fixture)
from xmppd import cluster, layer

pytestmark = pytest.mark.django_db(transaction=True)
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
BURST = 5000


@pytest.fixture
async def nodes(make_server: Any, redis_layer: Any) -> tuple[Any, Any]:
    """Two nodes on a channel layer with a small per-channel capacity, so a burst overflows."""
    redis_layer.capacity = 20
    prefix = f"xmppsite-test-{secrets.token_hex(4)}"
    a = await make_server(redis_url=REDIS_URL, cluster_prefix=prefix)
    b = await make_server(redis_url=REDIS_URL, cluster_prefix=prefix)
    return a, b


async def burst(raw: RawClient, to: str, count: int, batch: int = 500) -> None:
    for start in range(0, count, batch):
        for n in range(start, min(start + batch, count)):
            raw.send(f"<message to='{to}' type='chat'><body>#{n}#</body></message>")
        raw.send(f"<iq type='get' id='sent{start}'><ping xmlns='urn:xmpp:ping'/></iq>")
        # Generous: the point is nothing lost or reordered, and a loaded CI machine is slow.
        await raw.read_until(rf"id=.sent{start}.".encode(), timeout=60)
        raw.take()


async def read_numbers(raw: RawClient, count: int) -> list[int]:
    async def loop() -> None:
        while raw.buffer.count(b"</message>") < count:
            chunk = await raw.reader.read(65536)
            if not chunk:
                raise ConnectionError("closed")
            raw.buffer += chunk
    await asyncio.wait_for(loop(), 90)
    return [int(n) for n in re.findall(rb"#(\d+)#", raw.take())]


async def alice_and_bob(a: Any, b: Any) -> tuple[RawClient, RawClient]:
    """alice/a on node A, bob/b on node B, once A knows bob/b."""
    await a.add_user("alice")
    await b.add_user("bob")
    bob = await raw_login(b, "bob", resource="b")
    alice = await raw_login(a, "alice", resource="a")
    await wait_for(lambda: a.server.sessions.by_full.get(JID.parse("bob@localhost/b")) is not None)
    return alice, bob


async def test_a_burst_to_another_node_arrives_whole_and_in_order(nodes: tuple[Any, Any]) -> None:
    alice, bob = await alice_and_bob(*nodes)
    reading = asyncio.ensure_future(read_numbers(bob, BURST))
    await burst(alice, "bob@localhost/b", BURST)
    assert await reading == list(range(BURST))


async def test_what_another_node_cannot_take_is_stored_offline(nodes: tuple[Any, Any], monkeypatch) -> None:
    monkeypatch.setattr(cluster, "SEND_PATIENCE_S", 0.05)
    alice, bob = await alice_and_bob(*nodes)
    monkeypatch.setattr(layer, "drain", lambda *args: None)  # no grace-period reader either
    for task in asyncio.all_tasks():
        if "_receive_loop" in repr(task.get_coro()):
            task.cancel()  # node B reads nothing from its channels (a stuck node)
    await burst(alice, "bob@localhost/b", 60, batch=60)

    def stored() -> int:
        from offline.models import OfflineMessage

        return OfflineMessage.objects.count()

    # 20 fit in the channel, the other 40 are stored offline.
    await wait_for(lambda: asyncio.to_thread(lambda: stored() == 40), 10, what="40 stored")
    bob.close()
