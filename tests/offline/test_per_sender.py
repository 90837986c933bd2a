"""Issue 8: one sender leaves at most XMPP_OFFLINE_PER_SENDER messages for one recipient."""

from __future__ import annotations

import re
from typing import Any

import pytest
from lxml import etree

from offline import actions
from tests.plugins.wire import raw_login
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)


async def _send(raw: Any, count: int, first: int = 0) -> None:
    for i in range(first, first + count):
        raw.send(f"<message to='bob@localhost' type='chat' id='m{i}'><body>n{i}</body></message>")


async def test_a_sender_beyond_its_share_gets_service_unavailable(make_server: Any) -> None:
    srv = await make_server(offline_quota=10, offline_per_sender=2)
    for name in ("mallory", "alice", "bob"):
        await srv.add_user(name)
    mallory = await raw_login(srv, "mallory", resource="r")
    await _send(mallory, 3)
    data = await mallory.read_until(rb"</message>", timeout=5)
    error = etree.fromstring(re.search(rb"<message .*?</message>", data, re.S).group(0))
    assert error.get("type") == "error" and error.get("id") == "m2"
    assert error.find("{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}service-unavailable") \
        is not None
    # Another sender still has room: the recipient's quota was not used up by the first.
    alice = await raw_login(srv, "alice", resource="r")
    alice.send("<message to='bob@localhost' type='chat' id='a0'><body>hi</body></message>")
    alice.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
    answered = await alice.read_until(rb"id=.p1.", timeout=5)
    assert b"type=\"error\"" not in answered and b"type='error'" not in answered
    senders = sorted(etree.fromstring(xml).get("from") for _, xml in
                     await db(actions.get_messages, "bob", "localhost"))
    assert senders == ["alice@localhost/r", "mallory@localhost/r", "mallory@localhost/r"]


def _store(sender: str, per_sender: int) -> bool:
    return actions.do_store_message("bob", "localhost", sender, "<m/>", 100, per_sender)


@pytest.mark.django_db
def test_the_share_counts_every_resource_of_the_sender() -> None:
    assert [_store(s, 2) for s in ("eve@x/a", "eve@x/b", "eve@x", "evelyn@x/a")] == [True, True, False, True]
