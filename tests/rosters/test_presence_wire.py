"""RFC 6121 §4: presence broadcast, probes, priority, unavailable and directed presence."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from tests.rosters.helpers import (Raw, error_condition, expect, login, nothing, presence_from, q,
                                   subscribe_in_db)
from tests.support.quiet import settle
from tests.support.waiting import wait_for
from xmppcore.jid import JID
from xmppcore.stanza import Stanza

pytestmark = pytest.mark.django_db(transaction=True)


async def friends(srv: Any, *pairs: tuple[str, str]) -> None:
    """Create the users and make the first of each pair subscribed to the second."""
    names = {name for pair in pairs for name in pair}
    for name in sorted(names):
        await srv.add_user(name)
    for user, contact in pairs:
        await subscribe_in_db(user, contact)


def session_of(srv: Any, jid: str) -> Any:
    return srv.server.sessions.get(JID.parse(jid))


async def test_initial_presence_is_broadcast_to_subscribers_and_own_resources(xmpp) -> None:
    # bob and carol see alice; dave is in alice's roster but not subscribed to her.
    await friends(xmpp, ("bob", "alice"), ("carol", "alice"), ("alice", "dave"))
    b = await login(xmpp, "bob", "pc")
    c = await login(xmpp, "carol", "pc")
    d = await login(xmpp, "dave", "pc")
    a_phone = await login(xmpp, "alice", "phone")
    await login(xmpp, "alice", "pc", status="at my desk")
    for client in (b, c, a_phone):
        p = await expect(client.presences, presence_from("alice@localhost/pc"))
        assert p["status"] == "at my desk"
    assert p.xml.get("to") == "alice@localhost"  # the user's own resources
    await nothing(d.presences, presence_from("alice@localhost/pc"))


async def test_initial_presence_gets_the_contacts_presence(xmpp) -> None:
    await friends(xmpp, ("alice", "bob"), ("alice", "carol"))
    await login(xmpp, "bob", "pc", status="bob on pc")
    b_phone = await login(xmpp, "bob", "phone", presence=False)
    b_phone.send_presence(pstatus="bob on phone", pshow="away")
    await login(xmpp, "carol", "pc", presence=False)  # online but not available
    await settle(b_phone)  # its presence is processed
    a = await login(xmpp, "alice", "pc", presence=False)
    a.send_presence()
    # §4.3.2 rule 4: the last presence of each available resource, from its full JID.
    got = {}
    for _ in range(2):
        p = await expect(a.presences, lambda p: str(p["from"]).startswith("bob@localhost/"))
        got[str(p["from"])] = p
    assert got["bob@localhost/pc"]["status"] == "bob on pc"
    assert got["bob@localhost/phone"]["show"] == "away"
    assert got["bob@localhost/phone"].xml.get("to") == "alice@localhost/pc"
    # Rule 3: carol has no available resource: nothing.
    await nothing(a.presences, lambda p: str(p["from"]).startswith("carol@localhost"))


async def test_new_resource_learns_about_the_users_other_resources(xmpp) -> None:
    await xmpp.add_user("alice")
    await login(xmpp, "alice", "pc", status="first")
    second = await login(xmpp, "alice", "phone", presence=False)
    second.send_presence()
    p = await expect(second.presences, presence_from("alice@localhost/pc"))
    assert p["status"] == "first"


async def test_presence_initial_hook_follows_the_broadcast(xmpp) -> None:
    await friends(xmpp, ("alice", "bob"), ("bob", "alice"))
    await xmpp.add_user("carol")
    b = await login(xmpp, "bob", "pc")
    c = await login(xmpp, "carol", "pc")
    c.send_presence(pto="alice@localhost", ptype="subscribe")  # stored: alice is offline
    await settle(c)
    seen: list[tuple[str, bool]] = []

    def hook(session: Any) -> None:
        seen.append((str(session.jid), session.is_available))
        session.send(etree.fromstring("<message xmlns='jabber:client' id='marker'/>"))

    xmpp.server.hooks.add("presence/initial", hook)
    raw = await Raw.login(xmpp, "alice", "pc")
    raw.send("<presence/>")
    await raw.stanza(lambda el: el.get("id") == "marker")
    # Everything §4.2 asks for came before the hook ran: the contact's presence, the request.
    order = [(el.tag, el.get("from"), el.get("type")) for el in raw.stanzas]
    raw.stanzas.clear()
    assert (q("presence"), "bob@localhost/pc", None) in order
    assert (q("presence"), "carol@localhost", "subscribe") in order
    await expect(b.presences, presence_from("alice@localhost/pc"))
    raw.send("<presence><status>again</status></presence>")  # not initial: no hook
    await expect(b.presences, presence_from("alice@localhost/pc"))
    assert seen == [("alice@localhost/pc", True)]


async def test_priority(xmpp) -> None:
    await xmpp.add_user("alice")
    raw = await Raw.login(xmpp, "alice")
    raw.send("<presence><priority>-5</priority></presence>")
    await raw.stanza(lambda el: el.tag == q("presence"))
    session = session_of(xmpp, raw.jid)
    assert session.priority == -5 and session.is_available
    assert session.presence.findtext(q("priority")) == "-5"
    for bad in ("128", "-129", "high", "", "1.5"):
        raw.send(f"<presence id='p{bad}'><priority>{bad}</priority></presence>")
        error = await raw.stanza(lambda el, b=bad: el.get("id") == f"p{b}")
        assert el_type(error) == "error" and error_condition(error) == "bad-request"
        assert session.priority == -5
    raw.send("<presence/>")  # no <priority/>: 0
    await raw.stanza(lambda el: el.tag == q("presence") and el.get("type") is None)
    assert session.priority == 0


def el_type(el: Any) -> str | None:
    return el.get("type")


async def test_subsequent_presence_goes_to_subscribers_without_new_probes(xmpp) -> None:
    await friends(xmpp, ("bob", "alice"), ("alice", "bob"))
    b = await login(xmpp, "bob", "pc")
    a = await login(xmpp, "alice", "pc")
    await expect(b.presences, presence_from("alice@localhost/pc"))
    await expect(a.presences, presence_from("bob@localhost/pc"))
    a.send_presence(pshow="xa", pstatus="gone fishing")
    p = await expect(b.presences, presence_from("alice@localhost/pc"))
    assert p["show"] == "xa" and p["status"] == "gone fishing"
    await nothing(a.presences, presence_from("bob@localhost/pc"))  # §4.4.2: no probes


async def test_explicit_unavailable(xmpp) -> None:
    await friends(xmpp, ("bob", "alice"))
    b = await login(xmpp, "bob", "pc")
    a_pc = await login(xmpp, "alice", "pc")
    a_phone = await login(xmpp, "alice", "phone")
    await expect(b.presences, presence_from("alice@localhost/phone"))
    a_phone.send_presence(ptype="unavailable", pstatus="bye")
    for client in (b, a_pc):
        p = await expect(client.presences, presence_from("alice@localhost/phone", "unavailable"))
        assert p["status"] == "bye"
    session = session_of(xmpp, "alice@localhost/phone")
    assert not session.is_available and session.presence is None
    a_phone.disconnect()  # already unavailable: nobody hears it twice
    await nothing(b.presences, presence_from("alice@localhost/phone", "unavailable"))


async def test_connection_loss_means_unavailable(xmpp) -> None:
    await friends(xmpp, ("bob", "alice"))
    await xmpp.add_user("carol")
    b = await login(xmpp, "bob", "pc")
    c = await login(xmpp, "carol", "pc")
    a = await login(xmpp, "alice", "pc")
    await expect(b.presences, presence_from("alice@localhost/pc"))
    a.send_presence(pto="carol@localhost")  # directed (§4.6), carol is not a contact
    await expect(c.presences, presence_from("alice@localhost/pc"))
    a.abort()  # the TCP connection just drops
    for client in (b, c):
        p = await expect(client.presences, presence_from("alice@localhost/pc", "unavailable"))
        assert p.xml.get("from") == "alice@localhost/pc"


async def test_stream_close_means_unavailable(xmpp) -> None:
    await friends(xmpp, ("bob", "alice"))
    b = await login(xmpp, "bob", "pc")
    a = await login(xmpp, "alice", "pc")
    await expect(b.presences, presence_from("alice@localhost/pc"))
    a.disconnect()  # </stream:stream>
    await expect(b.presences, presence_from("alice@localhost/pc", "unavailable"))


async def test_directed_presence(xmpp) -> None:
    for name in ("alice", "bob", "carol"):
        await xmpp.add_user(name)
    a = await login(xmpp, "alice", "pc")
    b1 = await login(xmpp, "bob", "one")
    b2 = await login(xmpp, "bob", "two")
    c1 = await login(xmpp, "carol", "one")
    c2 = await login(xmpp, "carol", "two")
    # To a bare JID: every available resource. Not in the roster: delivered all the same.
    a.send_presence(pto="bob@localhost", pstatus="just for bob")
    for client in (b1, b2):
        p = await expect(client.presences, presence_from("alice@localhost/pc"))
        assert p["status"] == "just for bob" and p.xml.get("to") == "bob@localhost"
    # To a full JID: that resource only.
    a.send_presence(pto="carol@localhost/two", pstatus="just for carol")
    p = await expect(c2.presences, presence_from("alice@localhost/pc"))
    assert p.xml.get("to") == "carol@localhost/two"
    await nothing(c1.presences, presence_from("alice@localhost/pc"))
    # §4.6.3: a directed 'unavailable' ends it; the others hear of the logout.
    a.send_presence(pto="bob@localhost", ptype="unavailable")
    await expect(b1.presences, presence_from("alice@localhost/pc", "unavailable"))
    a.disconnect()
    await expect(c2.presences, presence_from("alice@localhost/pc", "unavailable"))
    await nothing(b1.presences, presence_from("alice@localhost/pc", "unavailable"))
    await nothing(c1.presences, presence_from("alice@localhost/pc", "unavailable"))


async def test_directed_presence_to_missing_resource_or_user_is_ignored(xmpp) -> None:
    await xmpp.add_user("alice")
    await xmpp.add_user("bob")
    raw = await Raw.login(xmpp, "alice")
    raw.send("<presence to='bob@localhost/nowhere' id='d1'/><presence to='ghost@localhost' id='d2'/>"
             "<presence to='localhost' id='d3'/>")
    await raw.no_stanza(lambda el: el.get("id") in ("d1", "d2", "d3"))  # §8.5: no error


async def test_probe_from_a_client(xmpp) -> None:
    await friends(xmpp, ("alice", "bob"))
    await xmpp.add_user("eve")
    await login(xmpp, "bob", "pc", status="here")
    raw = await Raw.login(xmpp, "alice")
    raw.send("<presence to='bob@localhost' type='probe'/>")
    p = await raw.stanza(lambda el: el.get("from") == "bob@localhost/pc")
    assert p.get("to") == raw.jid and p.findtext(q("status")) == "here"
    # §4.3.2: no subscription: no presence. The 'unsubscribed' answered on bob's behalf is
    # processed by eve's server (§A.3.4 'None': not delivered).
    eve = await Raw.login(xmpp, "eve")
    eve.send("<presence to='bob@localhost' type='probe'/>")
    await eve.no_stanza(lambda el: el.tag == q("presence"))


async def test_probe_from_another_domain(xmpp) -> None:
    await xmpp.add_user("bob")
    romeo = JID.parse("romeo@remote.test")
    from rosters import actions
    from xmppd.router import Router
    from xmppd.storage import db

    routed: list[Stanza] = []
    xmpp.server.hooks.add("route/remote", lambda s: routed.append(s) or True, -10)
    b = await login(xmpp, "bob", "pc", status="here")
    router = Router(xmpp.server)

    async def probe(to: str = "bob@localhost") -> list[tuple[str | None, str | None, str | None]]:
        routed.clear()
        el = etree.fromstring(f"<presence xmlns='jabber:client' type='probe' from='romeo@remote.test' to='{to}'/>")
        await router.dispatch(Stanza(el, "presence", JID.parse(to), romeo))
        return [(s.el.get("type"), s.el.get("from"), s.el.get("to")) for s in routed]

    # §4.3.2 rule 2: not subscribed: 'unsubscribed' from the bare JID.
    assert await probe() == [("unsubscribed", "bob@localhost", "romeo@remote.test")]
    # Rule 1: no such account: the same answer.
    assert await probe("ghost@localhost") == [("unsubscribed", "ghost@localhost", "romeo@remote.test")]
    # romeo asks, bob approves: now the probe is answered with bob's presence.
    el = etree.fromstring("<presence xmlns='jabber:client' type='subscribe' from='romeo@remote.test' "
                          "to='bob@localhost'/>")
    await router.dispatch(Stanza(el, "presence", JID.parse("bob@localhost"), romeo))
    await expect(b.presences, lambda p: p["type"] == "subscribe")
    b.send_presence(pto="romeo@remote.test", ptype="subscribed")
    await expect(b.pushes, lambda iq: "romeo@remote.test" in iq["roster"]["items"])
    assert await db(actions.get_subscription, "bob", "localhost", romeo) == "from"
    sent = await probe()
    assert sent == [(None, "bob@localhost/pc", "romeo@remote.test")]
    assert routed[0].el.findtext(q("status")) == "here"


async def test_presence_error_to_a_full_jid_is_delivered(xmpp) -> None:
    await xmpp.add_user("alice")
    await xmpp.add_user("bob")
    b = await login(xmpp, "bob", "pc")
    raw = await Raw.login(xmpp, "alice")
    raw.send("<presence to='bob@localhost/pc' type='error' id='e1'><error type='cancel'>"
             "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"
             "<presence to='bob@localhost' type='error' id='e2'><error type='cancel'>"
             "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>")
    p = await expect(b.presences, lambda p: p["type"] == "error")
    assert p["id"] == "e1" and str(p["from"]) == raw.jid
    await raw.no_stanza(lambda el: el.get("type") == "error")  # never answered (and e2 is processed)
    await nothing(b.presences, lambda p: p["type"] == "error")  # to a bare JID: ignored


async def test_remote_contacts(xmpp) -> None:
    await xmpp.add_user("alice")
    romeo = JID.parse("romeo@remote.test")
    from rosters import actions
    from xmppd.storage import db

    # alice <-> romeo: subscribed both ways.
    await db(actions.do_outbound, "alice", "localhost", romeo, "subscribe")
    await db(actions.do_inbound, "alice", "localhost", romeo, "subscribed")
    await db(actions.do_inbound, "alice", "localhost", romeo, "subscribe", "<presence/>")
    await db(actions.do_outbound, "alice", "localhost", romeo, "subscribed")
    routed: list[Stanza] = []
    xmpp.server.hooks.add("route/remote", lambda s: routed.append(s) or True, -10)
    a = await login(xmpp, "alice", "pc")
    a.send_presence(pto="juliet@capulet.test/balcony")  # directed, to another domain
    await settle(a)
    a.disconnect()
    await wait_for(lambda: session_of(xmpp, "alice@localhost/pc") is None and len(routed) >= 5,
                   what="alice's session closed and her unavailable presences routed")
    sent = [(s.el.get("type"), s.el.get("from"), s.el.get("to")) for s in routed]
    assert sent == [
        (None, "alice@localhost/pc", "romeo@remote.test"),  # §4.2.2 broadcast
        ("probe", "alice@localhost", "romeo@remote.test"),  # §4.3.1 probe, from the bare JID
        (None, "alice@localhost/pc", "juliet@capulet.test/balcony"),  # directed
        ("unavailable", "alice@localhost/pc", "romeo@remote.test"),  # §4.5.2
        ("unavailable", "alice@localhost/pc", "juliet@capulet.test/balcony"),  # §4.6.3
    ]


async def test_inbound_presence_from_another_domain_reaches_available_resources(xmpp) -> None:
    await xmpp.add_user("bob")
    b = await login(xmpp, "bob", "pc")
    idle = await login(xmpp, "bob", "idle", presence=False)
    from xmppd.router import Router

    el = etree.fromstring("<presence xmlns='jabber:client' from='romeo@remote.test/orchard' "
                          "to='bob@localhost'><status>from afar</status></presence>")
    await Router(xmpp.server).dispatch(
        Stanza(el, "presence", JID.parse("bob@localhost"), JID.parse("romeo@remote.test/orchard")))
    p = await expect(b.presences, presence_from("romeo@remote.test/orchard"))
    assert p["status"] == "from afar"
    await nothing(idle.presences, presence_from("romeo@remote.test/orchard"))
