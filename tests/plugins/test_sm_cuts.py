"""XEP-0198 when connections are cut (TCP reset, no </stream:stream>): a detached session stays
present, stanzas to it wait, and when it expires what the client never acknowledged goes back
through routing (RFC 6121 §8.5, XEP-0203 delay): another resource, the offline store, or an
error to the sender. Never lost, never twice."""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.plugins.sm_wire import SM, SMClient, bind, bodies, raw_auth, reset, sm_login
from tests.plugins.wire import raw_login
from tests.rosters.helpers import subscribe_in_db
from tests.support.quiet import raw_nothing_more, raw_settle
from tests.support.waiting import wait_for
from xmppcore.jid import JID

pytestmark = pytest.mark.django_db(transaction=True)
PHONE = JID.parse("alice@localhost/phone")


def chat(body: str, to: str = "alice@localhost/phone") -> str:
    return f"<message to='{to}' type='chat' id='{body}'><body>{body}</body></message>"


def offline_bodies() -> list[str]:
    from offline.models import OfflineMessage

    return [b for m in OfflineMessage.objects.order_by("id") for b in bodies(m.stanza.encode())]


async def stored(count: int) -> list[str]:
    """The bodies in the offline store once there are `count` of them."""
    async def enough() -> tuple[list[str]] | None:
        rows = await asyncio.to_thread(offline_bodies)
        return (rows,) if len(rows) >= count else None
    return (await wait_for(enough, what=f"{count} offline messages"))[0]


async def cut_with_unacked(srv, *, resume: bool = True, sent: int = 4, acked: int = 2, new: bool = True):
    """alice/phone (SM, no presence) gets `sent` messages from bob, acks `acked`, is reset."""
    if new:
        await srv.add_user("alice")
    await srv.add_user("bob")
    raw, _ = await sm_login(srv, "alice", resume=resume, presence=False)
    bob = await raw_login(srv, "bob", resource="desk")
    for i in range(sent):
        bob.send(chat(f"m{i}"))
    await raw.read_until(rf"m{sent - 1}</body>")
    raw.send(f"<a xmlns='{SM}' h='{acked}'/><r xmlns='{SM}'/>")
    await raw.read_until(rb"<a [^>]*/>")
    reset(raw)
    return bob


async def test_a_cut_session_stays_present_until_it_expires(make_server) -> None:
    srv = await make_server(sm_resume_timeout=1.0)
    await srv.add_user("alice")
    await srv.add_user("bob")
    await subscribe_in_db("bob", "alice")
    bob = await raw_login(srv, "bob", resource="desk")
    bob.send("<presence/>")
    alice, _ = await sm_login(srv, "alice")
    await bob.read_until(rb"<presence[^>]*from=\"alice@localhost/phone\"")
    bob.take()
    reset(alice)
    await wait_for(lambda: srv.server.sessions.get(PHONE).is_detached, what="alice detached")
    await raw_nothing_more(bob, rb"unavailable")  # still present for her contacts
    assert srv.server.sessions.get(PHONE).is_available
    data = await bob.read_until(rb"<presence[^>]*type=\"unavailable\"[^>]*>", timeout=5)
    assert b'from="alice@localhost/phone"' in data
    assert srv.server.sessions.get(PHONE) is None


async def test_on_expiry_unacked_and_queued_messages_go_offline_once_with_a_delay(make_server) -> None:
    srv = await make_server(sm_resume_timeout=0.5)
    bob = await cut_with_unacked(srv, sent=4, acked=2)
    await wait_for(lambda: srv.server.sessions.get(PHONE).is_detached, what="alice detached")
    bob.send(chat("queued"))
    await raw_settle(bob)
    assert await stored(3) == ["m2", "m3", "queued"]  # m0 and m1 were acked: not again
    alice = await raw_login(srv, "alice", resource="phone")
    alice.send("<presence/>")
    data = await alice.read_until(rb"queued</body>.*</message>")
    alice.take()
    assert bodies(data) == ["m2", "m3", "queued"]
    assert len(re.findall(rb"<delay xmlns=\"urn:xmpp:delay\"[^>]*stamp=", data)) == 3
    await raw_nothing_more(alice, rb"<message")


async def test_a_session_without_resumption_reroutes_at_once(xmpp) -> None:
    bob = await cut_with_unacked(xmpp, resume=False, sent=3, acked=1)
    assert await stored(2) == ["m1", "m2"]
    assert xmpp.server.sessions.get(PHONE) is None
    await raw_nothing_more(bob, rb"<message[^>]*type=\"error\"")


async def test_on_expiry_messages_go_to_another_resource(make_server) -> None:
    srv = await make_server(sm_resume_timeout=0.3)
    await srv.add_user("alice")
    desk = await raw_login(srv, "alice", resource="desk")
    desk.send("<presence/>")
    await raw_settle(desk)
    desk.take()
    bob = await cut_with_unacked(srv, sent=2, acked=0, new=False)
    data = await desk.read_until(rb"m1</body>.*?</message>")
    assert bodies(data) == ["m0", "m1"] and b"urn:xmpp:delay" in data
    await raw_nothing_more(bob, rb"type=\"error\"")


async def test_on_expiry_a_queued_request_is_answered_with_an_error(make_server) -> None:
    srv = await make_server(sm_resume_timeout=0.3)
    bob = await cut_with_unacked(srv, sent=1, acked=1)
    bob.send("<iq type='get' id='v1' to='alice@localhost/phone'><query xmlns='jabber:iq:version'/></iq>")
    data = await bob.read_until(rb"<iq[^>]*id=\"v1\".*?</iq>")
    assert b'type="error"' in data and b"<service-unavailable" in data


async def test_offline_messages_count_as_delivered_only_when_acked(make_server) -> None:
    srv = await make_server(sm_resume_timeout=0.3)
    await srv.add_user("alice")
    await srv.add_user("bob")
    bob = await raw_login(srv, "bob", resource="desk")
    for i in range(3):
        bob.send(chat(f"o{i}", to="alice@localhost"))
    assert await stored(3) == ["o0", "o1", "o2"]
    raw, _ = await sm_login(srv, "alice")  # presence: the store is flushed into the SM queue
    await raw.read_until(rb"o2</body>")
    raw.send(f"<a xmlns='{SM}' h='2'/><r xmlns='{SM}'/>")  # own presence and o0 handled
    await raw.read_until(rb"<a [^>]*/>")
    reset(raw)
    assert await stored(2) == ["o1", "o2"]
    alice = await raw_login(srv, "alice", resource="phone")
    alice.send("<presence/>")
    assert bodies(await alice.read_until(rb"o2</body>")) == ["o1", "o2"]


async def test_a_clean_close_reroutes_what_was_not_acked(xmpp) -> None:
    await xmpp.add_user("alice")
    await xmpp.add_user("bob")
    raw, _ = await sm_login(xmpp, "alice", presence=False)
    bob = await raw_login(xmpp, "bob", resource="desk")
    bob.send(chat("unread"))
    await raw.read_until(rb"unread</body>")
    raw.send("</stream:stream>")
    await raw.read_to_eof()
    assert await stored(1) == ["unread"]


async def test_a_client_that_never_acks_is_dropped_and_nothing_is_lost(make_server) -> None:
    srv = await make_server(sm_max_unacked=5, sm_request_every=2)
    await srv.add_user("alice")
    await srv.add_user("bob")
    raw, _ = await sm_login(srv, "alice", presence=False)
    bob = await raw_login(srv, "bob", resource="desk")
    for i in range(8):
        bob.send(chat(f"m{i}"))
    data = await raw.read_to_eof()
    assert b"<policy-violation" in data
    await wait_for(lambda: srv.server.sessions.get(PHONE) is None, what="alice's session ended")
    # what she never acknowledged and what came after the stream ended: all stored, none lost
    assert sorted(await stored(8)) == [f"m{i}" for i in range(8)]


async def test_twenty_kills_mid_burst_every_message_exactly_once_in_order(make_server) -> None:
    srv = await make_server(sm_resume_timeout=1.0, sm_request_every=4)
    await srv.add_user("alice")
    await srv.add_user("bob")
    bob = await raw_login(srv, "bob", resource="desk")
    client = SMClient(await raw_auth(srv, "alice"))
    await bind(client.raw, "phone")
    client.raw.send(f"<enable xmlns='{SM}' resume='true'/>")
    await client.raw.read_until(rb"<enabled[^>]*/>")
    previd = re.search(rb"id=\"([^\"]+)\"", client.raw.take()).group(1).decode()
    sent = 0
    batch = 25
    for round_ in range(20):
        for _ in range(batch):
            bob.send(chat(f"{sent:04d}"))
            sent += 1
        seen = len(client.bodies) + (round_ * 7) % batch + 1  # cut somewhere inside the burst
        await client.pump(lambda: len(client.bodies) >= seen)
        if round_ % 6 == 5:  # this one expires: the client tells what it handled, then vanishes
            client.raw.send(f"<a xmlns='{SM}' h='{client.h}'/><r xmlns='{SM}'/>")
            await client.raw.read_until(rb"<a xmlns=\"urn:xmpp:sm:3\" h=")
            reset(client.raw)
            await wait_for(lambda: srv.server.sessions.get(PHONE) is None, what="the session expired")
            await stored(sent - len(client.bodies))
            client.raw = await raw_auth(srv, "alice")
            client.h = 0
            await bind(client.raw, "phone")
            client.raw.send(f"<enable xmlns='{SM}' resume='true'/>")
            await client.raw.read_until(rb"<enabled[^>]*/>")
            previd = re.search(rb"id=\"([^\"]+)\"", client.raw.take()).group(1).decode()
            client.raw.send("<presence/>")  # the offline store is flushed
        else:
            reset(client.raw)
            client.raw = await raw_auth(srv, "alice")
            client.raw.send(f"<resume xmlns='{SM}' previd='{previd}' h='{client.h}'/>")
        await client.pump(lambda: len(client.bodies) >= sent, timeout=10)
    expected = [f"{i:04d}" for i in range(sent)]
    assert client.bodies == expected
    assert await asyncio.to_thread(offline_bodies) == []


async def test_binding_the_same_resource_instead_of_resuming_gets_what_was_not_acked(xmpp) -> None:
    await cut_with_unacked(xmpp, sent=3, acked=1)
    await wait_for(lambda: xmpp.server.sessions.get(PHONE).is_detached, what="alice detached")
    old = xmpp.server.sessions.get(PHONE)
    fresh = await raw_auth(xmpp, "alice")
    fresh.send("<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
               "<resource>phone</resource></bind></iq>")
    data = await fresh.read_until(rb"m2</body>.*?</message>")
    assert bodies(data) == ["m1", "m2"] and data.count(b"urn:xmpp:delay") == 2
    assert old.is_closed and xmpp.server.sessions.get(PHONE) is not old


async def test_a_resume_acking_too_much_leaves_the_kept_session_alone(xmpp) -> None:
    await xmpp.add_user("alice")
    raw, enabled = await sm_login(xmpp, "alice", presence=False)
    reset(raw)
    await wait_for(lambda: xmpp.server.sessions.get(PHONE).is_detached, what="alice detached")
    again = await raw_auth(xmpp, "alice")
    again.send(f"<resume xmlns='{SM}' previd='{enabled.get('id')}' h='5'/>")
    assert b"<handled-count-too-high" in await again.read_to_eof()
    session = xmpp.server.sessions.get(PHONE)
    assert session.is_detached and session.data["sm"].expiry is not None


async def test_a_message_to_the_bare_jid_is_not_delivered_twice_to_a_resource_that_had_it(make_server) -> None:
    srv = await make_server(sm_resume_timeout=0.3)
    await srv.add_user("alice")
    await srv.add_user("bob")
    desk = await raw_login(srv, "alice", resource="desk")
    desk.send("<presence/>")
    await raw_settle(desk)
    raw, _ = await sm_login(srv, "alice")  # available, priority 0 like desk
    await raw_settle(raw)
    bob = await raw_login(srv, "bob", resource="desk")
    bob.send(chat("to-both", to="alice@localhost"))
    bob.send(chat("to-phone"))
    await raw.read_until(rb"to-phone</body>")
    reset(raw)  # neither acknowledged
    await wait_for(lambda: srv.server.sessions.get(PHONE) is None, what="the phone's session expired")
    data = await desk.read_until(rb"to-phone</body>.*?</message>")
    desk.take()
    assert bodies(data) == ["to-both", "to-phone"]  # its own copy, then the phone's one
    await raw_nothing_more(desk, rb"to-both")


async def test_a_shutdown_stores_what_kept_sessions_still_hold(xmpp) -> None:
    bob = await cut_with_unacked(xmpp, sent=2, acked=1)
    await wait_for(lambda: xmpp.server.sessions.get(PHONE).is_detached, what="alice detached")
    bob.send(chat("late"))
    await raw_settle(bob)
    await xmpp.runner.stop()
    assert await asyncio.to_thread(offline_bodies) == ["m1", "late"]
