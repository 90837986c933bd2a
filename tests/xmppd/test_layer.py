"""xmppd/layer.py: a stanza another node routed to a session that can no longer take it is
routed again (another resource, offline, or an error), and the channel is still read for a
grace period after the connection ends, so stanzas in flight are not lost."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from offline.actions import get_messages
from tests.clients import connect
from tests.support.waiting import wait_for
from xmppd import layer
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)


def routed(body: str, to: str = "bob@localhost/gone") -> dict[str, str]:
    return {"type": "xmpp.route",
            "xml": f"<message xmlns='jabber:client' from='alice@localhost/a' to='{to}' type='chat'>"
                   f"<body>{body}</body></message>"}


async def stored(body: str) -> bool:
    return any(body in xml for _, xml in await db(get_messages, "bob", "localhost", 0, 100))


class ClosedSession:
    is_closed = True

    def send_bytes(self, data: bytes) -> bool:
        raise AssertionError("a closed session is never written to")


async def test_a_stanza_for_a_gone_session_goes_offline(xmpp: Any) -> None:
    await xmpp.add_user("bob")
    layer.deliver(None, routed("no session here"), xmpp.server)
    layer.deliver(ClosedSession(), routed("session closed meanwhile"), xmpp.server)
    await wait_for(lambda: stored("no session here"), what="the first stored offline")
    await wait_for(lambda: stored("session closed meanwhile"), what="the second stored offline")


async def test_a_stanza_for_a_gone_resource_reaches_another_one(xmpp: Any) -> None:
    await xmpp.add_user("alice")
    bob = await connect(xmpp, await xmpp.add_user("bob"), resource="phone")
    layer.deliver(None, routed("to your other device"), xmpp.server)
    message = await bob.next_message()
    assert message["body"] == "to your other device" and str(message["from"]) == "alice@localhost/a"


class QueueLayer:
    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()

    async def receive(self, channel: str) -> dict[str, str]:
        return await self.queue.get()


async def test_the_channel_is_read_for_a_grace_period_after_the_connection_ends(xmpp: Any) -> None:
    await xmpp.add_user("bob")
    fake = QueueLayer()
    task = layer.listen(fake, "specific.channel!1", lambda: None, xmpp.server)
    layer.stop_later(task, grace=0.5)  # the connection has just ended
    fake.queue.put_nowait(routed("still in flight"))
    await wait_for(lambda: stored("still in flight"), what="the in-flight stanza stored offline")
    await wait_for(lambda: task.done(), what="the loop stopped after the grace period")
    assert task.cancelled()
