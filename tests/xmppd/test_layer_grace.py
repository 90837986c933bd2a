"""xmppd/layer.py, issue 8 "No silent loss": a stanza already on its way over the channel layer
to a session that ends meanwhile is routed again (another resource, offline, or an error)
instead of being dropped; the grace-period reader holds no driver, so nothing of the
connection is kept alive by it."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest

from offline.actions import get_messages
from tests.plugins.wire import raw_login
from tests.support.waiting import wait_for
from tests.xmppd.test_cluster import two_nodes, redis_layer  # noqa: F401  (fixtures)
from xmppcore.jid import JID
from xmppd import c2s, layer
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)
BOB = JID.parse("bob@localhost/b")


def routed(body: str, to: str = "bob@localhost/b") -> dict[str, str]:
    return {"type": "xmpp.route",
            "xml": f"<message xmlns='jabber:client' from='alice@localhost/a' to='{to}' type='chat'>"
                   f"<body>{body}</body></message>"}


async def stored_bodies(user: str = "bob") -> list[str]:
    return [xml for _, xml in await db(get_messages, user, "localhost", 0, 100)]


class ClosedSession:
    def send_bytes(self, data: bytes) -> bool:
        return False  # closed meanwhile: Session.send_bytes refuses


def test_what_a_session_cannot_take_is_handed_back() -> None:
    message = routed("late")
    assert layer.deliver(ClosedSession(), message) == message["xml"].encode()
    assert layer.deliver(None, message) == message["xml"].encode()
    assert layer.deliver(None, {"type": "xmpp.close", "condition": "conflict"}) is None


async def test_a_message_in_flight_to_a_session_that_ended_is_stored_offline(
        two_nodes: tuple[Any, Any], monkeypatch: Any) -> None:
    a, b = two_nodes
    await a.add_user("alice")
    await b.add_user("bob")
    bob = await raw_login(b, "bob", resource="b")
    alice = await raw_login(a, "alice", resource="a")
    await wait_for(lambda: a.server.sessions.by_full.get(BOB) is not None, what="node A to know bob/b")
    # Node A has not heard yet that bob/b ended (the "down" event is still on its way):
    monkeypatch.setattr(a.server.cluster, "_drop", lambda jid: None)
    bob.writer.transport.abort()  # bob's connection dies at this moment, no </stream:stream>
    await wait_for(lambda: b.server.sessions.by_full.get(BOB) is None, what="node B to end bob/b")
    alice.send("<message to='bob@localhost/b' type='chat'><body>in flight</body></message>")
    await wait_for(lambda: _has(stored_bodies(), "in flight"), timeout=5,
                   what="the message node A put on bob's old channel stored offline on node B")
    alice.close()


async def _has(bodies: Any, text: str) -> bool:
    return any(text in xml for xml in await bodies)


async def test_the_grace_period_keeps_no_driver_alive(two_nodes: tuple[Any, Any], redis_layer: Any,
                                                      monkeypatch: Any) -> None:
    a, b = two_nodes
    await b.add_user("bob")
    monkeypatch.setattr(layer, "GRACE_S", 30.0)  # the reader outlives this whole test
    bob = await raw_login(b, "bob", resource="b")
    session = b.server.sessions.by_full[BOB]
    channel, driver = session.channel_name, weakref.ref(session._closer.__self__)
    assert isinstance(driver(), c2s.C2SDriver)
    del session
    bob.writer.transport.abort()
    await wait_for(lambda: b.server.sessions.by_full.get(BOB) is None, what="node B to end bob/b")
    await wait_for(lambda: _draining(channel), what="the channel still read after the session ended")

    def collected() -> bool:
        gc.collect()
        return driver() is None

    await wait_for(collected, timeout=5, what="bob's driver collected during the grace period")
    assert _draining(channel)
    await redis_layer.send(channel, routed("after the end"))
    await wait_for(lambda: _has(stored_bodies(), "after the end"), timeout=5, what="stored offline")
    for task in [task for task in layer._draining if task.get_name() == f"layer-drain {channel}"]:
        task.cancel()  # (this test's reader only: others belong to earlier tests' event loops)


def _draining(channel: str) -> bool:
    return any(task.get_name() == f"layer-drain {channel}" and not task.done() for task in layer._draining)
