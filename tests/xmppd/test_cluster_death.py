"""A cluster node that dies without a word (SIGKILL: no 'down' events, its heartbeat key
expires): the surviving nodes end its sessions on its behalf — contacts on every node get
the unavailable presence once (RFC 6121 §4.5.2), not once per surviving node — and messages
to those users then go to the offline store."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from tests.rosters.helpers import expect, login, nothing, presence_from, subscribe_in_db
from tests.support.waiting import wait_for
from tests.xmppd.test_cluster import REDIS_URL, redis_layer  # noqa: F401,F811 (a fixture)
from xmppcore.jid import JID
from xmppd import cluster
from xmppd.priorities import OBSERVE

pytestmark = pytest.mark.django_db(transaction=True)
BOB = JID.parse("bob@localhost")


@pytest.fixture
async def three_nodes(make_server: Any, redis_layer: Any, monkeypatch) -> list[Any]:  # noqa: F811
    monkeypatch.setattr(cluster, "HEARTBEAT_S", 0.2)
    monkeypatch.setattr(cluster, "NODE_TTL_S", 1)
    prefix = f"xmppsite-test-{secrets.token_hex(4)}"
    return [await make_server(redis_url=REDIS_URL, cluster_prefix=prefix) for _ in range(3)]


def kill(node: Any) -> None:
    """As SIGKILL does to the cluster: no more heartbeat, events or goodbyes from `node`."""
    for task in node.server.cluster._tasks:
        task.cancel()
    node.server.cluster._events = None  # nothing left to publish when the test stops it


def stored_for(user: str) -> int:
    from offline.models import OfflineMessage

    return OfflineMessage.objects.filter(username=user).count()


async def test_a_dead_nodes_users_go_unavailable_once_and_their_messages_offline(three_nodes: list[Any]) -> None:
    node_a, node_b, node_c = three_nodes
    await node_a.add_user("alice")
    await node_a.add_user("bob")
    await subscribe_in_db("alice", "bob")
    await subscribe_in_db("bob", "alice")
    alice = await login(node_a, "alice", "pc")
    await login(node_b, "bob", "pc")
    await expect(alice.presences, presence_from("bob@localhost/pc"))
    await wait_for(lambda: node_c.server.sessions.available(BOB))
    ended: list[Any] = []  # the surviving nodes that ended bob's session on node B's behalf
    for node in (node_a, node_c):
        node.server.hooks.add("session/closed", lambda s, *_, n=node: ended.append(n) if s.bare == BOB else None,
                              OBSERVE)
    kill(node_b)
    await expect(alice.presences, presence_from("bob@localhost/pc", "unavailable"), timeout=10)
    await wait_for(lambda: not node_c.server.sessions.resources(BOB) and not node_a.server.sessions.resources(BOB),
                   what="nodes A and C dropped bob")
    await nothing(alice.presences, presence_from("bob@localhost/pc", "unavailable"))
    assert len(ended) == 1  # one node claimed the dead one (SET NX), not each survivor
    alice.send_message(mto="bob@localhost/pc", mbody="are you there?", mtype="chat")
    await wait_for(lambda: asyncio.to_thread(stored_for, "bob"), what="the message stored offline")
