"""Two server nodes for one domain, joined through Redis (replicated sessions, channel layer).

Both nodes run in this process but share nothing except Redis and the database: each has
its own Server (session table, hooks) and its own listeners; stanzas between them travel
as serialized XML over the Redis channel layer.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from typing import Any, AsyncIterator

import pytest

from tests.clients import connect
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis_layer() -> AsyncIterator[Any]:
    """The Redis channel layer as the process's default layer for this test."""
    from channels.layers import channel_layers
    from channels_redis.core import RedisChannelLayer

    layer = RedisChannelLayer(hosts=[REDIS_URL], prefix=f"asgi-test-{secrets.token_hex(4)}")
    saved = channel_layers.backends.get("default")
    channel_layers.backends["default"] = layer
    yield layer
    await layer.flush()
    if saved is None:
        channel_layers.backends.pop("default", None)
    else:
        channel_layers.backends["default"] = saved


@pytest.fixture
async def two_nodes(make_server: Any, redis_layer: Any) -> tuple[Any, Any]:
    prefix = f"xmppsite-test-{secrets.token_hex(4)}"
    a = await make_server(redis_url=REDIS_URL, cluster_prefix=prefix)
    b = await make_server(redis_url=REDIS_URL, cluster_prefix=prefix)
    return a, b


async def test_message_crosses_nodes(two_nodes: tuple[Any, Any]) -> None:
    from xmppcore.jid import JID

    a, b = two_nodes
    alice = await connect(a, await a.add_user("alice"), resource="a")
    bob = await connect(b, await b.add_user("bob"), resource="b")
    await wait_for(lambda: any(s.is_available for s in a.server.sessions.resources(JID.parse("bob@localhost"))))
    alice.send_message(mto="bob@localhost", mbody="over the bus", mtype="chat")
    msg = await bob.next_message()
    assert msg["body"] == "over the bus" and str(msg["from"]) == "alice@localhost/a"
    bob.send_message(mto="alice@localhost/a", mbody="and back", mtype="chat")
    reply = await alice.next_message()
    assert reply["body"] == "and back" and str(reply["from"]) == "bob@localhost/b"


async def test_order_is_kept_across_nodes(two_nodes: tuple[Any, Any]) -> None:
    from xmppcore.jid import JID

    a, b = two_nodes
    alice = await connect(a, await a.add_user("alice"), resource="a")
    bob = await connect(b, await b.add_user("bob"), resource="b")
    await wait_for(lambda: any(s.is_available for s in a.server.sessions.resources(JID.parse("bob@localhost"))))
    for i in range(50):
        alice.send_message(mto="bob@localhost", mbody=str(i), mtype="chat")
    got = [(await bob.next_message())["body"] for _ in range(50)]
    assert got == [str(i) for i in range(50)]


async def test_same_resource_on_another_node_conflicts(two_nodes: tuple[Any, Any]) -> None:
    from xmppcore.jid import JID

    a, b = two_nodes
    jid = await a.add_user("alice")
    first = await connect(a, jid, resource="same")
    errors: list[str] = []
    gone = asyncio.get_running_loop().create_future()
    first.add_event_handler("stream_error", lambda e: errors.append(e["condition"]))
    first.add_event_handler("disconnected", lambda _: gone.done() or gone.set_result(True))
    await wait_for(lambda: b.server.sessions.get(JID.parse("alice@localhost/same")) is not None)
    await connect(b, jid, resource="same")
    await asyncio.wait_for(gone, 5)
    assert errors == ["conflict"]


async def test_logout_on_one_node_is_seen_by_the_other(two_nodes: tuple[Any, Any]) -> None:
    from xmppcore.jid import JID

    a, b = two_nodes
    bob = await connect(b, await b.add_user("bob"), resource="b")
    full = JID.parse("bob@localhost/b")
    await wait_for(lambda: a.server.sessions.get(full) is not None)
    bob.disconnect()
    await wait_for(lambda: a.server.sessions.get(full) is None)
