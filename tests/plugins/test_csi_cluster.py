"""XEP-0352 across cluster nodes: the inactive state is replicated session state, and a
stanza another node routes to an inactive session (serialized, over the channel layer) is
held or let through on the session's own node by the same rules."""

from __future__ import annotations

from typing import Any

import pytest

from plugins.csi import MODULE, QUEUE
from tests.clients import connect
from tests.plugins.test_csi import ALICE, CSI, STATES, chat, presence, stanzas
from tests.plugins.wire import raw_login
from tests.support.waiting import wait_for
from tests.xmppd.test_cluster import redis_layer, two_nodes  # noqa: F401 (fixtures)
from xmppcore.jid import JID

pytestmark = pytest.mark.django_db(transaction=True)


def state_on(node: Any, jid: JID) -> str | None:
    session = node.server.sessions.get(jid)
    return session.data.get(MODULE) if session is not None else "not there yet"


async def test_held_on_the_session_node_for_stanzas_from_another(two_nodes: tuple[Any, Any]) -> None:
    a, b = two_nodes
    await a.add_user("alice")
    await a.add_user("bob")
    raw = await raw_login(b, "alice")  # alice is bound on b
    raw.send(f"<inactive xmlns='{CSI}'/>")
    jid = JID.parse(ALICE)
    await wait_for(lambda: state_on(a, jid) == "inactive")  # node a sees it (RemoteSession)
    local = b.server.sessions.get(jid)
    bob = await connect(a, "bob@localhost/pc", presence=False)  # bob is bound on a
    presence(bob, "one")
    chat(bob, f"<composing xmlns='{STATES}'/>", "c1")
    presence(bob, "two")
    await wait_for(lambda: len(local.data[QUEUE].held) == 2 and
                   b"two" in b"".join(local.data[QUEUE].held.values()))
    assert raw.buffer == b""
    chat(bob, "<body>across</body>", "m1")
    data = await raw.read_until(rb"across</body>.*?</message>")
    got = stanzas(data)
    assert [b"c1" in got[0], b"<status>two</status>" in got[1], b"m1" in got[2]] == [True] * 3, data
    assert len(got) == 3

    raw.send(f"<active xmlns='{CSI}'/>")
    await wait_for(lambda: state_on(a, jid) is None)  # active again, replicated too
