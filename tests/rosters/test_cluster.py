"""Rosters and presence when the two users are bound on two nodes of one cluster (Redis)."""

from __future__ import annotations

from typing import Any

import pytest

from rosters.store import is_interested
from tests.rosters.helpers import expect, item_xml, login, presence_from, roster_store
from tests.support.waiting import wait_for
from tests.xmppd.test_cluster import redis_layer, two_nodes  # noqa: F401 (fixtures)
from xmppcore.jid import JID

pytestmark = pytest.mark.django_db(transaction=True)
ALICE, BOB = JID.parse("alice@localhost"), JID.parse("bob@localhost")


async def test_subscription_and_presence_across_nodes(two_nodes: tuple[Any, Any]) -> None:
    node_a, node_b = two_nodes
    await node_a.add_user("alice")
    await node_a.add_user("bob")
    a = await login(node_a, "alice", "pc")
    b = await login(node_b, "bob", "pc", status="on node b")
    await wait_for(lambda: any(s.is_available and is_interested(s)
                               for s in node_a.server.sessions.resources(BOB)))
    await wait_for(lambda: any(s.is_available and is_interested(s)
                               for s in node_b.server.sessions.resources(ALICE)))
    a.send_presence(pto="bob@localhost", ptype="subscribe")
    request = await expect(b.presences, lambda p: p["type"] == "subscribe")
    assert request.xml.get("from") == "alice@localhost"
    b.send_presence(pto="alice@localhost", ptype="subscribed")
    # Node B processed alice's half from the database; the push reaches her on node A.
    push = await expect(a.pushes, lambda iq: item_xml(iq, "bob@localhost").get("subscription") == "to")
    assert push["to"] == a.boundjid
    await expect(a.presences, lambda p: p["type"] == "subscribed")
    assert (await expect(a.presences, presence_from("bob@localhost/pc")))["status"] == "on node b"
    # Node A reloads alice's roster from the cluster event.
    store_a = roster_store(node_a)
    await wait_for(lambda: store_a.loaded(ALICE).subscription(BOB) == "to")
    b.send_presence(pstatus="still on b")
    assert (await expect(a.presences, presence_from("bob@localhost/pc")))["status"] == "still on b"
    b.disconnect()
    await expect(a.presences, presence_from("bob@localhost/pc", "unavailable"))
