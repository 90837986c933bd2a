"""RFC 6121 §3: presence subscriptions between real clients, and with another domain."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from lxml import etree

from rosters import actions
from tests.rosters.helpers import (Raw, expect, item_xml, login, nothing, presence_from, push_for,
                                   subscribe_in_db)
from tests.support.quiet import settle
from xmppcore.jid import JID
from xmppcore.stanza import Stanza
from xmppd.storage import db

pytestmark = pytest.mark.django_db(transaction=True)


def of_type(type_: str, sender: str | None = None) -> Any:
    return lambda p: p["type"] == type_ and (sender is None or p.xml.get("from") == sender)


def sub_state(jid: str, subscription: str, ask: str | None = None) -> Any:
    def check(iq: Any) -> bool:
        try:
            item = item_xml(iq, jid)
        except AssertionError:
            return False
        return item.get("subscription") == subscription and item.get("ask") == ask
    return check


async def users(srv: Any, *names: str) -> None:
    for name in names:
        await srv.add_user(name)


async def test_subscribe_and_approve(xmpp) -> None:
    await users(xmpp, "alice", "bob")
    a = await login(xmpp, "alice", "pc")
    b = await login(xmpp, "bob", "pc", status="around")
    a.send_presence(pto="bob@localhost", ptype="subscribe", pstatus="Hi, it's Alice")
    # §3.1.2: the user's roster shows the pending request.
    await expect(a.pushes, sub_state("bob@localhost", "none", "subscribe"))
    request = await expect(b.presences, of_type("subscribe"))
    # §3.1.2: stamped with bare JIDs; the status text travels with it.
    assert request.xml.get("from") == "alice@localhost" and request.xml.get("to") == "bob@localhost"
    assert request["status"] == "Hi, it's Alice"
    await nothing(b.pushes)  # §3.1.3: a request alone changes nothing in the contact's roster
    b.send_presence(pto="alice@localhost", ptype="subscribed")
    await expect(b.pushes, sub_state("alice@localhost", "from"))
    approval = await expect(a.presences, of_type("subscribed"))
    assert approval.xml.get("from") == "bob@localhost"
    await expect(a.pushes, sub_state("bob@localhost", "to"))
    # §3.1.5: then the contact's current presence, from its full JID.
    presence = await expect(a.presences, presence_from("bob@localhost/pc"))
    assert presence["status"] == "around"
    # From now on the subscriber sees the contact's changes.
    b.send_presence(pstatus="busy", pshow="dnd")
    presence = await expect(a.presences, presence_from("bob@localhost/pc"))
    assert presence["show"] == "dnd"


async def test_request_is_stored_and_delivered_at_each_initial_presence(xmpp) -> None:
    await users(xmpp, "alice", "bob")
    a = await login(xmpp, "alice", "pc")
    a.send_presence(pto="bob@localhost", ptype="subscribe", pstatus="Remember me?")
    await expect(a.pushes, sub_state("bob@localhost", "none", "subscribe"))
    # Bob was offline (§3.1.3 rule 4): he gets it with his first initial presence, status intact.
    b1 = await login(xmpp, "bob", "one", presence=False)
    await nothing(b1.presences, of_type("subscribe"))
    b1.send_presence()
    request = await expect(b1.presences, of_type("subscribe"))
    assert request["status"] == "Remember me?" and request.xml.get("from") == "alice@localhost"
    roster = await asyncio.wait_for(b1.get_roster(), 5)
    assert "alice@localhost" not in roster["roster"]["items"]  # not in the roster yet
    # Not answered: another resource gets it too when it becomes available.
    b2 = await login(xmpp, "bob", "two")
    assert (await expect(b2.presences, of_type("subscribe")))["status"] == "Remember me?"
    # Denied: alice hears it, and the request is forgotten.
    b2.send_presence(pto="alice@localhost", ptype="unsubscribed")
    assert (await expect(a.presences, of_type("unsubscribed"))).xml.get("from") == "bob@localhost"
    await expect(a.pushes, sub_state("bob@localhost", "none"))
    b3 = await login(xmpp, "bob", "three")
    await nothing(b3.presences, of_type("subscribe"))


async def test_request_reaches_every_available_resource(xmpp) -> None:
    await users(xmpp, "alice", "bob")
    a = await login(xmpp, "alice")
    b1 = await login(xmpp, "bob", "one")
    b2 = await login(xmpp, "bob", "two")
    idle = await login(xmpp, "bob", "idle", presence=False)  # bound, never available
    a.send_presence(pto="bob@localhost", ptype="subscribe")
    await expect(b1.presences, of_type("subscribe"))
    await expect(b2.presences, of_type("subscribe"))
    await nothing(idle.presences, of_type("subscribe"))


async def test_auto_reply_when_already_subscribed(xmpp) -> None:
    await users(xmpp, "alice", "bob")
    # Bob's roster grants alice a subscription that alice's roster has lost track of.
    await db(actions.do_inbound, "bob", "localhost", JID.parse("alice@localhost"), "subscribe", "<presence/>")
    await db(actions.do_outbound, "bob", "localhost", JID.parse("alice@localhost"), "subscribed")
    a = await login(xmpp, "alice")
    b = await login(xmpp, "bob")
    a.send_presence(pto="bob@localhost", ptype="subscribe")
    await expect(a.pushes, sub_state("bob@localhost", "none", "subscribe"))
    # §3.1.3 rule 2: bob's server answers for bob, who is not asked again.
    reply = await expect(a.presences, of_type("subscribed"))
    assert reply.xml.get("from") == "bob@localhost"
    await expect(a.pushes, sub_state("bob@localhost", "to"))
    await nothing(b.presences, of_type("subscribe"))
    await nothing(b.pushes)


async def test_resubscribing_changes_nothing_and_asks_nobody(xmpp) -> None:
    await users(xmpp, "alice", "bob")
    await subscribe_in_db("alice", "bob")
    a = await login(xmpp, "alice")
    b = await login(xmpp, "bob")
    a.send_presence(pto="bob@localhost", ptype="subscribe")
    # §A.2.1 'To': routed, no change; bob's server auto-replies; §A.3.3 'To': not delivered.
    await nothing(b.presences, of_type("subscribe"))
    await nothing(a.pushes)
    await nothing(b.pushes)


async def test_auto_reply_to_another_domain(xmpp) -> None:
    await users(xmpp, "bob")
    jid = JID.parse("romeo@remote.test")
    await db(actions.do_inbound, "bob", "localhost", jid, "subscribe", "<presence/>")
    await db(actions.do_outbound, "bob", "localhost", jid, "subscribed")
    routed: list[Stanza] = []
    xmpp.server.hooks.add("route/remote", lambda s: routed.append(s) or True, -10)
    b = await login(xmpp, "bob")
    # Bob's initial presence went to his subscriber first (§4.2.2).
    assert [(s.el.get("type"), s.el.get("to")) for s in routed] == [(None, "romeo@remote.test")]
    routed.clear()
    from xmppd.router import Router

    el = etree.fromstring("<presence xmlns='jabber:client' type='subscribe' "
                          "from='romeo@remote.test' to='bob@localhost'/>")
    await Router(xmpp.server).dispatch(Stanza(el, "presence", JID.parse("bob@localhost"), jid))
    assert [(s.el.get("type"), s.el.get("from"), s.el.get("to")) for s in routed] == [
        ("subscribed", "bob@localhost", "romeo@remote.test")]
    await nothing(b.presences, of_type("subscribe"))


async def test_pre_approval(xmpp) -> None:
    await users(xmpp, "alice", "bob")
    raw = await Raw.login(xmpp, "bob", "raw")
    assert b"<sub xmlns=\"urn:xmpp:features:pre-approval\"/>" in raw.features  # §3.4
    raw.close()
    a = await login(xmpp, "alice")
    b = await login(xmpp, "bob", "pc", status="ready")
    b.send_presence(pto="alice@localhost", ptype="subscribed")
    # §3.4.1: noted in bob's roster, not sent to alice.
    push = await expect(b.pushes, push_for("alice@localhost"))
    item = item_xml(push, "alice@localhost")
    assert item.get("approved") == "true" and item.get("subscription") == "none"
    await nothing(a.presences, of_type("subscribed"))
    a.send_presence(pto="bob@localhost", ptype="subscribe")
    # §3.4.2: approved at once; bob is not asked.
    await expect(a.presences, of_type("subscribed"))
    await expect(a.pushes, sub_state("bob@localhost", "to"))
    await expect(a.presences, presence_from("bob@localhost/pc"))
    push = await expect(b.pushes, sub_state("alice@localhost", "from"))
    assert item_xml(push, "alice@localhost").get("approved") is None
    await nothing(b.presences, of_type("subscribe"))


async def test_pre_approval_can_be_cancelled(xmpp) -> None:
    await users(xmpp, "alice", "bob")
    a = await login(xmpp, "alice")
    b = await login(xmpp, "bob")
    b.send_presence(pto="alice@localhost", ptype="subscribed")
    await expect(b.pushes, lambda iq: item_xml(iq, "alice@localhost").get("approved") == "true")
    b.send_presence(pto="alice@localhost", ptype="unsubscribed")
    await expect(b.pushes, lambda iq: item_xml(iq, "alice@localhost").get("approved") is None)
    await nothing(a.presences, of_type("unsubscribed"))  # nothing to cancel on alice's side
    a.send_presence(pto="bob@localhost", ptype="subscribe")
    await expect(b.presences, of_type("subscribe"))  # asked again, as usual


async def test_unsubscribe(xmpp) -> None:
    await users(xmpp, "alice", "bob")
    await subscribe_in_db("alice", "bob")
    a = await login(xmpp, "alice", "pc")
    b = await login(xmpp, "bob", "pc")
    await expect(a.presences, presence_from("bob@localhost/pc"))
    a.send_presence(pto="bob@localhost", ptype="unsubscribe")
    await expect(a.pushes, sub_state("bob@localhost", "none"))
    notice = await expect(b.presences, of_type("unsubscribe"))
    assert notice.xml.get("from") == "alice@localhost"
    await expect(b.pushes, sub_state("alice@localhost", "none"))
    # §3.3.3: the contact's resources go unavailable for the former subscriber.
    await expect(a.presences, presence_from("bob@localhost/pc", "unavailable"))
    b.send_presence(pstatus="not for alice")
    await nothing(a.presences, presence_from("bob@localhost/pc"))


async def test_cancel_a_subscription(xmpp) -> None:
    await users(xmpp, "alice", "bob")
    await subscribe_in_db("alice", "bob")
    a = await login(xmpp, "alice", "pc")
    b = await login(xmpp, "bob", "pc")
    await expect(a.presences, presence_from("bob@localhost/pc"))
    b.send_presence(pto="alice@localhost", ptype="unsubscribed")
    await expect(b.pushes, sub_state("alice@localhost", "none"))
    assert (await expect(a.presences, of_type("unsubscribed"))).xml.get("from") == "bob@localhost"
    await expect(a.pushes, sub_state("bob@localhost", "none"))
    # §3.2.2: and the contact's resources go unavailable for the former subscriber.
    await expect(a.presences, presence_from("bob@localhost/pc", "unavailable"))


async def test_subscription_to_a_full_jid_is_stamped_bare(xmpp) -> None:
    await users(xmpp, "alice", "bob")
    a = await login(xmpp, "alice", "pc")
    b = await login(xmpp, "bob", "pc")
    a.send_presence(pto="bob@localhost/pc", ptype="subscribe")
    request = await expect(b.presences, of_type("subscribe"))
    assert request.xml.get("to") == "bob@localhost" and request.xml.get("from") == "alice@localhost"
    await expect(a.pushes, sub_state("bob@localhost", "none", "subscribe"))


async def test_subscribe_to_an_unknown_local_user_is_dropped_silently(xmpp) -> None:
    await users(xmpp, "alice")
    a = await login(xmpp, "alice")
    a.send_presence(pto="ghost@localhost", ptype="subscribe")
    await expect(a.pushes, sub_state("ghost@localhost", "none", "subscribe"))
    await nothing(a.presences, lambda p: p["type"] in ("error", "subscribed", "unsubscribed"))


async def test_remote_contact_outbound_processing_and_routing(xmpp) -> None:
    await users(xmpp, "alice")
    routed: list[Stanza] = []
    xmpp.server.hooks.add("route/remote", lambda s: routed.append(s) or True, -10)
    a = await login(xmpp, "alice", "pc")
    a.send_presence(pto="romeo@remote.test/orchard", ptype="subscribe", pstatus="hello")
    await expect(a.pushes, sub_state("romeo@remote.test", "none", "subscribe"))
    await settle(a)  # alice's presence fully processed: all it routed is in `routed`
    [out] = [s for s in routed if s.name == "presence"]
    assert out.el.get("type") == "subscribe"
    assert out.el.get("from") == "alice@localhost" and out.el.get("to") == "romeo@remote.test"


async def test_remote_subscription_without_a_route_is_an_error(xmpp) -> None:
    await users(xmpp, "alice")
    a = await login(xmpp, "alice")
    a.send_presence(pto="romeo@remote.test", ptype="subscribe")
    error = await expect(a.presences, of_type("error"))
    assert error["error"]["condition"] == "remote-server-not-found"


async def test_inbound_request_from_another_domain(xmpp) -> None:
    await users(xmpp, "bob")
    routed: list[Stanza] = []
    xmpp.server.hooks.add("route/remote", lambda s: routed.append(s) or True, -10)
    b = await login(xmpp, "bob", "pc", status="hello romeo")
    from xmppd.router import Router

    router = Router(xmpp.server)

    async def inbound(type_: str) -> None:
        el = etree.fromstring(f"<presence xmlns='jabber:client' type='{type_}' "
                              "from='romeo@remote.test' to='bob@localhost/pc'/>")
        await router.dispatch(Stanza(el, "presence", JID.parse(el.get("to")), JID.parse(el.get("from"))))

    await inbound("subscribe")
    request = await expect(b.presences, of_type("subscribe"))
    assert request.xml.get("from") == "romeo@remote.test" and request.xml.get("to") == "bob@localhost"
    b.send_presence(pto="romeo@remote.test", ptype="subscribed")
    await expect(b.pushes, sub_state("romeo@remote.test", "from"))
    await settle(b)  # bob's approval fully processed: all it routed is in `routed`
    sent = [(s.el.get("type"), s.el.get("from"), s.el.get("to")) for s in routed]
    # §3.1.5: the approval, then bob's presence, leave for romeo's server.
    assert sent[0] == ("subscribed", "bob@localhost", "romeo@remote.test")
    assert (None, "bob@localhost/pc", "romeo@remote.test") in sent
