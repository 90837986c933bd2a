"""XEP-0160 / XEP-0203 on the wire: stored while offline, delivered at the next login, never lost."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from lxml import etree

from offline import actions
from offline.xmpp import OfflineStore
from tests.clients import connect
from tests.plugins.wire import eventually, q, raw_login
from tests.support.quiet import raw_nothing_more
from xmppcore.jid import JID
from xmppd.sessions import Session
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)

DELAY = "urn:xmpp:delay"
XEP0082_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def stored_count(user: str = "bob") -> Any:
    return db(actions.count_messages, user, "localhost")


async def online(srv, jid: str, **kw: Any):
    """Log in and send initial presence: the rosters module then fires presence/initial."""
    return await connect(srv, jid, **kw)


async def received(client, n: int, timeout: float = 5.0) -> list[Any]:
    return [await client.next_message(timeout) for _ in range(n)]


async def nothing_more(client, wait: float = 0.3) -> bool:
    try:
        extra = await client.next_message(wait)
    except asyncio.TimeoutError:
        return True
    raise AssertionError(f"unexpected message: {extra}")


def store_of(srv) -> OfflineStore:
    (store,) = [h.__self__ for h in srv.server.hooks.handlers("presence/initial")
                if isinstance(getattr(h, "__self__", None), OfflineStore)]
    return store


async def test_stored_with_a_delay_then_delivered_in_order_at_login(xmpp) -> None:
    alice = await online(xmpp, await xmpp.add_user("alice"))
    await xmpp.add_user("bob")
    errors: list[Any] = []
    alice.add_event_handler("message_error", errors.append)
    for i in range(3):
        alice.send_message(mto="bob@localhost", mbody=f"hello {i}", mtype="chat")
    await eventually(lambda: _equals(stored_count(), 3), timeout=5)

    bob = await online(xmpp, "bob@localhost")
    messages = await received(bob, 3)
    assert [m["body"] for m in messages] == ["hello 0", "hello 1", "hello 2"]
    for m in messages:
        assert m["type"] == "chat" and m["from"] == alice.boundjid
        (delay,) = m.xml.findall(q(DELAY, "delay"))
        assert delay.get("from") == "localhost"
        assert XEP0082_UTC.match(delay.get("stamp")), delay.get("stamp")
        assert delay.text == "Offline Storage"
    stamps = [m.xml.find(q(DELAY, "delay")).get("stamp") for m in messages]
    assert stamps == sorted(stamps)
    await eventually(lambda: _equals(stored_count(), 0), timeout=5)  # deleted once written
    assert not errors  # §2 step 4: the sender gets no error


async def _equals(value: Any, expected: Any) -> bool:
    return (await value) == expected


async def test_a_message_to_a_gone_resource_is_stored_for_the_account(xmpp) -> None:
    alice = await online(xmpp, await xmpp.add_user("alice"))
    await xmpp.add_user("bob")
    alice.send_message(mto="bob@localhost/gone", mbody="where are you", mtype="normal")
    await eventually(lambda: _equals(stored_count(), 1), timeout=5)
    bob = await online(xmpp, "bob@localhost", resource="back")
    (m,) = await received(bob, 1)
    assert m["body"] == "where are you"


async def test_when_the_store_is_full_the_sender_gets_service_unavailable(make_server) -> None:
    srv = await make_server(offline_quota=2)
    await srv.add_user("alice")
    await srv.add_user("bob")
    raw = await raw_login(srv, "alice", resource="r")
    for i in range(3):
        raw.send(f"<message to='bob@localhost' type='chat' id='m{i}'><body>n{i}</body></message>")
    data = await raw.read_until(rb"</message>", timeout=5)
    error = etree.fromstring(re.search(rb"<message .*?</message>", data, re.S).group(0))
    assert error.tag == "{jabber:client}message"
    assert error.get("type") == "error" and error.get("id") == "m2"
    assert error.get("from") == "bob@localhost" and error.get("to") == "alice@localhost/r"
    err = error.find("{jabber:client}error")
    assert err.get("type") == "cancel"
    assert err.find("{urn:ietf:params:xml:ns:xmpp-stanzas}service-unavailable") is not None
    assert error.findtext("{jabber:client}body") == "n2"  # which message failed
    assert error.find(q(DELAY, "delay")) is None  # the bounce is the original, not our copy
    assert await stored_count() == 2


async def test_standalone_chat_states_are_dropped_silently(xmpp) -> None:
    await xmpp.add_user("alice")
    await xmpp.add_user("bob")
    raw = await raw_login(xmpp, "alice", resource="r")
    raw.send("<message to='bob@localhost' type='chat' id='c1'>"
             "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
    raw.send("<message to='bob@localhost' type='chat' id='c2'><body>hi</body>"
             "<active xmlns='http://jabber.org/protocol/chatstates'/></message>")
    await eventually(lambda: _equals(stored_count(), 1), timeout=5)
    await raw_nothing_more(raw, rb"<message")
    assert await stored_count() == 1
    (_, xml), = await db(actions.get_messages, "bob", "localhost")
    assert etree.fromstring(xml).findtext("{jabber:client}body") == "hi"


async def test_headlines_are_not_stored(xmpp) -> None:
    alice = await online(xmpp, await xmpp.add_user("alice"))
    await xmpp.add_user("bob")
    alice.send_message(mto="bob@localhost", mbody="news", mtype="headline")
    alice.send_message(mto="bob@localhost", mbody="keep", mtype="normal")
    await eventually(lambda: _equals(stored_count(), 1), timeout=5)
    (_, xml), = await db(actions.get_messages, "bob", "localhost")
    assert etree.fromstring(xml).findtext("{jabber:client}body") == "keep"


async def test_messages_stay_stored_when_the_session_cannot_take_them(xmpp) -> None:
    await xmpp.add_user("bob")
    for i in range(3):
        await db(actions.do_store_message, "bob", "localhost", "alice@localhost/a",
                 f"<message xmlns='jabber:client' to='bob@localhost' type='chat'><body>m{i}</body></message>", 10)
    written: list[bytes] = []

    def writer(data: bytes) -> bool:
        if written:
            return False  # the connection died after the first one
        written.append(data)
        return True

    dying = Session(JID.parse("bob@localhost/dying"), writer, lambda condition: None)
    await store_of(xmpp).flush(dying)
    assert len(written) == 1 and b"m0" in written[0]
    remaining = await db(actions.get_messages, "bob", "localhost")
    assert [("m1" in xml, "m2" in xml) for _, xml in remaining] == [(True, False), (False, True)]

    bob = await online(xmpp, "bob@localhost")
    assert [m["body"] for m in await received(bob, 2)] == ["m1", "m2"]


async def test_a_negative_priority_session_gets_them_once_its_priority_rises(xmpp) -> None:
    """§2 step 5: delivered when the recipient next sends non-negative available presence."""
    alice = await online(xmpp, await xmpp.add_user("alice"))
    await xmpp.add_user("bob")
    alice.send_message(mto="bob@localhost", mbody="first", mtype="chat")
    await eventually(lambda: _equals(stored_count(), 1), timeout=5)
    bob = await connect(xmpp, "bob@localhost", presence=False)
    bob.send_presence(ppriority=-1)
    session = xmpp.server.sessions.resources(JID.parse("bob@localhost"))[0]
    await eventually(lambda: session.is_available and session.priority == -1, timeout=5)
    assert await nothing_more(bob)
    alice.send_message(mto="bob@localhost", mbody="second", mtype="chat")  # §8.5.2.1.1: stored too
    await eventually(lambda: _equals(stored_count(), 2), timeout=5)
    assert await nothing_more(bob)
    bob.send_presence(ppriority=1)
    assert [m["body"] for m in await received(bob, 2)] == ["first", "second"]
    await eventually(lambda: _equals(stored_count(), 0), timeout=5)
    bob.send_presence(ppriority=2)  # no longer a rise from below zero: nothing to do
    assert await nothing_more(bob)


async def test_flushing_pages_through_many_messages(xmpp, monkeypatch) -> None:
    monkeypatch.setattr("offline.xmpp.FLUSH_BATCH", 2)
    await xmpp.add_user("bob")
    for i in range(5):
        await db(actions.do_store_message, "bob", "localhost", "alice@localhost/a",
                 f"<message xmlns='jabber:client' to='bob@localhost'><body>p{i}</body></message>", 10)
    bob = await online(xmpp, "bob@localhost")
    assert [m["body"] for m in await received(bob, 5)] == [f"p{i}" for i in range(5)]
    await eventually(lambda: _equals(stored_count(), 0), timeout=5)


async def test_two_sessions_flushing_at_once_share_the_messages(xmpp) -> None:
    await xmpp.add_user("bob")
    for i in range(4):
        await db(actions.do_store_message, "bob", "localhost", "alice@localhost/a",
                 f"<message xmlns='jabber:client' to='bob@localhost'><body>s{i}</body></message>", 10)
    got: list[bytes] = []
    one = Session(JID.parse("bob@localhost/one"), lambda data: got.append(data) or True, lambda c: None)
    two = Session(JID.parse("bob@localhost/two"), lambda data: got.append(data) or True, lambda c: None)
    store = store_of(xmpp)
    await asyncio.gather(store.flush(one), store.flush(two))
    assert len(got) == 4  # each message once, not once per session
    assert not store._flushing


async def test_a_dead_session_falls_back_to_the_store(xmpp) -> None:
    """The session is still in the table but its connection refuses writes (send → False)."""
    alice = await online(xmpp, await xmpp.add_user("alice"))
    bob = await online(xmpp, await xmpp.add_user("bob"), resource="old")
    old = xmpp.server.sessions.get(JID.parse("bob@localhost/old"))
    await eventually(lambda: old.is_available, timeout=5)
    old.writer = lambda data: False
    alice.send_message(mto="bob@localhost", mbody="are you there", mtype="chat")
    await eventually(lambda: _equals(stored_count(), 1), timeout=5)
    bob.abort()
    new = await online(xmpp, "bob@localhost", resource="new")
    (m,) = await received(new, 1)
    assert m["body"] == "are you there"


async def test_nothing_lost_when_a_client_is_killed(xmpp) -> None:
    alice = await online(xmpp, await xmpp.add_user("alice"))
    bob = await online(xmpp, await xmpp.add_user("bob"), resource="phone")
    await eventually(lambda: xmpp.server.sessions.available(JID.parse("bob@localhost")), timeout=5)
    bob.transport.abort()  # no </stream:stream>, no unavailable presence: the socket just dies
    # Sent at once: whether the server still has Bob's session (whose send then fails) or
    # has already dropped it (no resource left), the message must end up in the store.
    alice.send_message(mto="bob@localhost", mbody="did you get this?", mtype="chat")
    await eventually(lambda: _equals(stored_count(), 1), timeout=5)
    await eventually(lambda: not xmpp.server.sessions.resources(JID.parse("bob@localhost")), timeout=5)
    again = await online(xmpp, "bob@localhost", resource="phone")
    (m,) = await received(again, 1)
    assert m["body"] == "did you get this?" and m["from"] == alice.boundjid
    assert await nothing_more(again)


async def test_msgoffline_is_advertised(xmpp) -> None:
    alice = await online(xmpp, await xmpp.add_user("alice"))
    info = await alice["xep_0030"].get_info(jid="localhost", timeout=5)
    assert "msgoffline" in info["disco_info"]["features"]


async def test_the_stored_message_on_the_wire(xmpp) -> None:
    """The exact bytes a raw client gets at login: the message, then our one <delay/>."""
    await xmpp.add_user("alice")
    await xmpp.add_user("bob")
    alice = await raw_login(xmpp, "alice", resource="desk")
    alice.send("<message to='bob@localhost' type='chat' id='w1'><body>ping?</body></message>")
    await eventually(lambda: _equals(stored_count(), 1), timeout=5)
    bob = await raw_login(xmpp, "bob", resource="laptop")
    bob.send("<presence/>")
    data = await bob.read_until(rb"</message>", timeout=5)
    message = re.search(rb"<message .*?</message>", data, re.S).group(0)
    assert re.fullmatch(
        rb'<message xmlns="jabber:client" to="bob@localhost" type="chat" id="w1" '
        rb'from="alice@localhost/desk"><body>ping\?</body>'
        # XEP-0359: the recipient's archive stamped its copy (archive/xmpp.py)
        rb'<stanza-id xmlns="urn:xmpp:sid:0" by="bob@localhost" id="[A-Za-z0-9_-]+"/>'
        rb'<delay xmlns="urn:xmpp:delay" from="localhost" '
        rb'stamp="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z">Offline Storage</delay></message>', message), message


async def test_a_message_stored_after_the_login_check_is_still_delivered(xmpp) -> None:
    from tests.rosters.helpers import authenticate
    from tests.rosters.test_login_prefetch import bind, capture_prefetches

    await xmpp.add_user("alice")
    bob = await online(xmpp, await xmpp.add_user("bob"))
    captured = capture_prefetches(xmpp)
    raw = await authenticate(xmpp)
    (_driver, prefetch), = captured
    await prefetch().ready()  # the store was read empty at SASL success ...
    bob.send_message(mto="alice@localhost", mbody="meanwhile", mtype="chat")
    await eventually(lambda: _equals(stored_count("alice"), 1), timeout=5)  # ... then written
    alice = await bind(xmpp, raw)
    alice.send("<presence/>")
    message = await alice.stanza(lambda el: el.tag == q("jabber:client", "message"))
    assert message.findtext(q("jabber:client", "body")) == "meanwhile"
    assert await stored_count("alice") == 0
    alice.close()
