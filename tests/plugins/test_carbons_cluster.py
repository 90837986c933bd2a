"""XEP-0280 across cluster nodes: the carbons flag is replicated module state
(`Module.session_state(..., replicate=True)`), so a resource bound on another node gets its
<received/> and <sent/> copies through the channel layer."""

from __future__ import annotations

from typing import Any

import pytest

from tests.plugins.test_carbons import device, send, unwrap
from tests.support.waiting import wait_for
from tests.xmppd.test_cluster import redis_layer, two_nodes  # noqa: F401 (fixtures)
from xmppcore.jid import JID

pytestmark = pytest.mark.django_db(transaction=True)


def flag_seen(node: Any, full: str) -> bool:
    session = node.server.sessions.get(JID.parse(full))
    return session is not None and session.data.get("carbons") is True


async def test_copies_reach_a_resource_on_another_node(two_nodes: tuple[Any, Any]) -> None:
    a, b = two_nodes
    await a.add_user("alice")
    await a.add_user("bob")
    pc = await device(a, "alice", "pc")
    phone = await device(b, "alice", "phone")
    bob = await device(a, "bob", "desk", carbons=False)
    await wait_for(lambda: flag_seen(a, phone.jid) and flag_seen(b, pc.jid))

    mid = send(bob, pc.jid, "<body>to your pc</body>")
    original = await pc.next()
    assert original.get("id") == mid
    carbon = await phone.next()
    forwarded = unwrap(carbon, "received", phone)
    assert forwarded.get("id") == mid and forwarded.get("from") == bob.jid

    mid = send(pc, "bob@localhost", "<body>from my pc</body>")
    assert (await bob.next()).get("id") == mid
    sent = unwrap(await phone.next(), "sent", phone)
    assert sent.get("id") == mid and sent.get("to") == "bob@localhost"


async def test_disabling_on_one_node_is_seen_by_the_other(two_nodes: tuple[Any, Any]) -> None:
    a, b = two_nodes
    await a.add_user("alice")
    await device(a, "alice", "pc")
    phone = await device(b, "alice", "phone")
    await wait_for(lambda: flag_seen(a, phone.jid))
    result = await phone.client.plugin["xep_0280"].disable(timeout=5)
    assert result.xml.get("type") == "result"
    await wait_for(lambda: not flag_seen(a, phone.jid))
