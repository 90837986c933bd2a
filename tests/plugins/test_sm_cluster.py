"""XEP-0198 in a cluster (two nodes through Redis): a session is resumed on the node that
holds it; an id from another node is refused cleanly (item-not-found); stanzas routed from the
other node to a detached session wait for the resumption."""

from __future__ import annotations

from typing import Any

import pytest

from tests.plugins.sm_wire import SM, bodies, element, raw_auth, reset, sm_login
from tests.plugins.wire import raw_login
from tests.support.waiting import wait_for
from tests.xmppd.test_cluster import redis_layer, two_nodes  # noqa: F401 (fixtures)
from xmppcore.jid import JID

pytestmark = pytest.mark.django_db(transaction=True)
PHONE = JID.parse("alice@localhost/phone")


async def test_resume_on_another_node_is_refused_and_stanzas_from_it_are_kept(two_nodes: tuple[Any, Any]) -> None:
    a, b = two_nodes
    await a.add_user("alice")
    await a.add_user("bob")
    raw, enabled = await sm_login(a, "alice", presence=False)
    await wait_for(lambda: b.server.sessions.get(PHONE) is not None, what="alice seen on node b")
    bob = await raw_login(b, "bob", resource="desk")
    reset(raw)
    await wait_for(lambda: a.server.sessions.get(PHONE).is_detached, what="alice detached on node a")
    bob.send("<message to='alice@localhost/phone' type='chat'><body>across</body></message>")
    await wait_for(lambda: a.server.sessions.get(PHONE).data["sm"].unacked, what="queued on node a")
    elsewhere = await raw_auth(b, "alice")
    elsewhere.send(f"<resume xmlns='{SM}' previd='{enabled.get('id')}' h='0'/>")
    failed = element(await elsewhere.read_until(rb"</failed>"), "failed")
    assert failed[0].tag == "{urn:ietf:params:xml:ns:xmpp-stanzas}item-not-found"
    home = await raw_auth(a, "alice")
    home.send(f"<resume xmlns='{SM}' previd='{enabled.get('id')}' h='0'/>")
    data = await home.read_until(rb"across</body>")
    assert element(data, "resumed").get("h") == "0" and bodies(data) == ["across"]
