"""XEP-0280: Message Carbons — the §6.1 rules in-process, and copies on the wire to slixmpp
clients (xep_0280 plugin) and to a WebSocket session."""

from __future__ import annotations

import asyncio
import itertools
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import pytest
from lxml import etree

from plugins.carbons import is_eligible
from tests.clients import Client, connect
from tests.conftest import RunningServer
from tests.plugins.wire import error_condition, eventually, q
from tests.transports.conftest import CLIENT, WebServer, WSClient, make_web, web  # noqa: F401

CARBONS = "urn:xmpp:carbons:2"
FORWARD = "urn:xmpp:forward:0"
HINTS = "urn:xmpp:hints"
MARKER_NS = "urn:test:marker"
_ids = itertools.count()


# -- §6.1 eligibility, in-process ----------------------------------------------------------

def msg(xml: str) -> etree._Element:
    return etree.fromstring(f"<message xmlns='{CLIENT}'>{xml}</message>")


@pytest.mark.parametrize("mtype, xml, inbound, eligible", [
    ("chat", "", False, True),  # chat: even without a body (chat states)
    ("normal", "<body>hi</body>", False, True),
    ("normal", "", False, False),
    ("normal", "<subject>s</subject>", False, False),
    ("normal", "<request xmlns='urn:xmpp:receipts'/>", False, True),  # XEP-0184
    ("normal", "<composing xmlns='http://jabber.org/protocol/chatstates'/>", False, True),
    ("normal", "<displayed xmlns='urn:xmpp:chat-markers:0' id='x'/>", False, True),  # XEP-0333
    ("normal", "<x xmlns='jabber:x:conference' jid='room@muc'/>", False, True),  # XEP-0249
    ("normal", "<x xmlns='http://jabber.org/protocol/muc#user'><invite from='a@b'/></x>", True, True),
    ("chat", "<body>pm</body><x xmlns='http://jabber.org/protocol/muc#user'/>", True, False),
    ("chat", "<body>pm</body><x xmlns='http://jabber.org/protocol/muc#user'/>", False, True),
    ("headline", "<body>news</body>", False, False),
    ("groupchat", "<body>all</body>", False, False),
    ("error", "<body>bounced</body>", False, False),
    ("chat", f"<body>secret</body><private xmlns='{CARBONS}'/><no-copy xmlns='{HINTS}'/>", False, False),
    ("chat", f"<body>secret</body><private xmlns='{CARBONS}'/>", False, False),
    ("chat", f"<body>secret</body><no-copy xmlns='{HINTS}'/>", False, False),
    ("chat", f"<received xmlns='{CARBONS}'><forwarded xmlns='{FORWARD}'/></received>", False, False),
    ("chat", f"<sent xmlns='{CARBONS}'><forwarded xmlns='{FORWARD}'/></sent>", False, False),
])
def test_eligible_messages(mtype: str, xml: str, inbound: bool, eligible: bool) -> None:
    assert is_eligible(msg(xml), mtype, inbound=inbound) is eligible


async def test_nothing_is_copied_or_serialized_when_nobody_enabled_carbons(monkeypatch) -> None:
    """The hot path: no carbons-enabled session → no copy of the message is ever built."""
    from plugins import carbons
    from xmppcore.jid import JID
    from xmppcore.stanza import Stanza
    from xmppd.server import Config, Server
    from xmppd.sessions import Session

    server = Server(Config(domains=["localhost"]))
    server.load(["plugins.message", "plugins.carbons"])
    written: dict[str, list[bytes]] = {}
    for full in ("alice@localhost/a", "alice@localhost/b", "bob@localhost/x", "bob@localhost/y"):
        session = Session(JID.parse(full), lambda data, f=full: written.setdefault(f, []).append(data) or True,
                          lambda _: None)
        session.is_available = True
        server.sessions.add(session)
    built = []
    monkeypatch.setattr(carbons, "carbon", lambda *a: built.append(a) or pytest.fail("copied"))
    el = msg("<body>hi</body>")
    el.set("type", "chat")
    stanza = Stanza(el, "message", JID.parse("bob@localhost"), JID.parse("alice@localhost/a"),
                    server.sessions.get(JID.parse("alice@localhost/a")))
    assert await server.hooks.fire("message/bare", stanza) is True
    assert not built and sorted(written) == ["bob@localhost/x", "bob@localhost/y"]


# -- on the wire ---------------------------------------------------------------------------

@dataclass
class Device:
    """A logged-in slixmpp client and every <message/> it received, in order."""

    client: Client
    jid: str
    inbox: asyncio.Queue = field(default_factory=asyncio.Queue)

    async def next(self, timeout: float = 5.0) -> ET.Element:
        return await asyncio.wait_for(self.inbox.get(), timeout)


def session_of(srv: RunningServer, full: str) -> Any:
    from xmppcore.jid import JID

    return srv.server.sessions.get(JID.parse(full))


async def device(srv: RunningServer, user: str, resource: str, *, priority: int = 0,
                 carbons: bool = True) -> Device:
    client = await connect(srv, f"{user}@localhost", resource=resource, presence=False)
    client.register_plugin("xep_0280")
    dev = Device(client, f"{user}@localhost/{resource}")

    def record(stanza: Any) -> Any:
        if stanza.xml.tag == q(CLIENT, "message"):
            dev.inbox.put_nowait(stanza.xml)
        return stanza

    client.add_filter("in", record)
    client.send_presence(ppriority=priority)
    await eventually(lambda: session_of(srv, dev.jid).is_available and
                     session_of(srv, dev.jid).priority == priority)
    if carbons:
        result = await client.plugin["xep_0280"].enable(timeout=5)
        assert result.xml.get("type") == "result"
    return dev


async def before_marker(srv: RunningServer, dev: Device) -> list[ET.Element]:
    """What `dev` got before a marker the server writes to its session now (routing is
    synchronous: copies of a message already delivered elsewhere were written before)."""
    marker = etree.Element(q(CLIENT, "message"), nsmap={None: CLIENT}, to=dev.jid, type="headline")
    etree.SubElement(marker, q(MARKER_NS, "marker"), nsmap={None: MARKER_NS})
    session_of(srv, dev.jid).send(marker)
    got = []
    while (el := await dev.next()).find(q(MARKER_NS, "marker")) is None:
        got.append(el)
    return got


def send(dev: Device, to: str, xml: str = "", *, mtype: str | None = "chat") -> str:
    """Send a <message/> with `xml` inside; returns its id."""
    mid = f"m{next(_ids)}"
    el = ET.fromstring(f"<message xmlns='{CLIENT}' id='{mid}' to='{to}'>{xml}</message>")
    if mtype is not None:
        el.set("type", mtype)
    dev.client.send_raw(ET.tostring(el, encoding="unicode"))
    return mid


async def expect_original(dev: Device, mid: str) -> ET.Element:
    el = await dev.next()
    assert el.get("id") == mid and el.find(q(CARBONS, "received")) is None, ET.tostring(el)
    return el


def unwrap(el: ET.Element, direction: str, owner: Device, *, mtype: str | None = "chat") -> ET.Element:
    """Check a §7/§8 carbon's envelope and return the forwarded original."""
    assert el.tag == q(CLIENT, "message"), ET.tostring(el)
    assert el.get("from") == owner.jid.split("/")[0]  # the user's bare JID
    assert el.get("to") == owner.jid  # the receiving resource's full JID
    assert el.get("type") == mtype
    assert [c.tag for c in el] == [q(CARBONS, direction)], ET.tostring(el)
    (forwarded,) = list(el[0])
    assert forwarded.tag == q(FORWARD, "forwarded")
    (original,) = list(forwarded)
    assert original.tag == q(CLIENT, "message")
    return original


async def test_feature_advertised(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    info = await alice["xep_0030"].get_info(jid="localhost", timeout=5)
    assert CARBONS in info["disco_info"]["features"]


async def test_enable_and_disable_per_session(xmpp) -> None:
    await xmpp.add_user("alice")
    a = await device(xmpp, "alice", "a", carbons=False)
    b = await device(xmpp, "alice", "b", carbons=False)
    plugin = a.client.plugin["xep_0280"]
    assert (await plugin.enable(timeout=5)).xml.get("type") == "result"
    assert session_of(xmpp, a.jid).data["carbons"] is True
    assert "carbons" not in session_of(xmpp, b.jid).data  # per session, not per account
    assert (await plugin.enable(timeout=5)).xml.get("type") == "result"  # §10.1: twice is fine
    assert (await plugin.disable(timeout=5)).xml.get("type") == "result"
    assert "carbons" not in session_of(xmpp, a.jid).data
    assert (await plugin.disable(timeout=5)).xml.get("type") == "result"
    iq = b.client.make_iq_set(ito="localhost")  # addressed to the server: the same
    iq.xml.append(ET.Element(q(CARBONS, "enable")))
    reply = await iq.send(timeout=5)
    assert reply.xml.get("type") == "result" and reply.xml.get("from") == "localhost"
    assert session_of(xmpp, b.jid).data["carbons"] is True


async def test_enable_at_another_server_is_not_allowed(xmpp) -> None:
    from slixmpp.exceptions import IqError

    await xmpp.add_user("alice")
    a = await device(xmpp, "alice", "a", carbons=False)
    iq = a.client.make_iq_set(ito="example.org")  # hosted here too, but not alice's server
    iq.xml.append(ET.Element(q(CARBONS, "enable")))
    with pytest.raises(IqError) as err:
        await iq.send(timeout=5)
    assert error_condition(err.value.iq.xml) == ("cancel", "not-allowed")
    assert "carbons" not in session_of(xmpp, a.jid).data


async def test_received_copies_go_to_enabled_resources_that_did_not_get_it(xmpp) -> None:
    for user in ("alice", "bob"):
        await xmpp.add_user(user)
    top = await device(xmpp, "alice", "top", priority=5)  # gets the original (§8.5.2.1.1)
    other = await device(xmpp, "alice", "other")
    negative = await device(xmpp, "alice", "negative", priority=-1)
    plain = await device(xmpp, "alice", "plain", carbons=False)
    bob = await device(xmpp, "bob", "x", carbons=False)
    mid = send(bob, "alice@localhost", "<body>hi alice</body><thread>t1</thread>")
    await expect_original(top, mid)
    for dev in (other, negative):
        (copy,) = await before_marker(xmpp, dev)
        original = unwrap(copy, "received", dev)
        assert original.get("from") == bob.jid and original.get("to") == "alice@localhost"
        assert original.get("id") == mid and original.get("type") == "chat"
        assert original.findtext(q(CLIENT, "body")) == "hi alice"
        assert original.findtext(q(CLIENT, "thread")) == "t1"
    assert await before_marker(xmpp, plain) == []
    assert await before_marker(xmpp, top) == []  # never a copy besides the original
    got = await other.client.plugin["xep_0280"].disable(timeout=5)
    assert got.xml.get("type") == "result"
    mid = send(bob, "alice@localhost", "<body>again</body>")
    await expect_original(top, mid)
    assert len(await before_marker(xmpp, negative)) == 1
    assert await before_marker(xmpp, other) == []  # disabled: nothing


async def test_message_to_a_full_jid_is_copied_to_the_other_enabled_resources(xmpp) -> None:
    for user in ("alice", "bob"):
        await xmpp.add_user(user)
    top = await device(xmpp, "alice", "top", priority=5)
    low = await device(xmpp, "alice", "low")
    bob = await device(xmpp, "bob", "x", carbons=False)
    mid = send(bob, low.jid, "<body>to low</body>")  # §7: "either bare or full"
    await expect_original(low, mid)
    (copy,) = await before_marker(xmpp, top)
    original = unwrap(copy, "received", top)
    assert original.get("to") == low.jid and original.get("id") == mid
    assert await before_marker(xmpp, low) == []


async def test_sent_copies_go_to_the_senders_other_enabled_resources(xmpp) -> None:
    for user in ("alice", "bob"):
        await xmpp.add_user(user)
    sender = await device(xmpp, "alice", "sender", carbons=False)  # §8: "irrespective of..."
    other = await device(xmpp, "alice", "other")
    plain = await device(xmpp, "alice", "plain", carbons=False)
    bob = await device(xmpp, "bob", "x", carbons=False)
    sent: list[Any] = []
    other.client.add_event_handler("carbon_sent", sent.append)
    mid = send(sender, "bob@localhost", "<body>hi bob</body>")
    await expect_original(bob, mid)
    (copy,) = await before_marker(xmpp, other)
    original = unwrap(copy, "sent", other)
    assert original.get("from") == sender.jid and original.get("to") == "bob@localhost"
    assert original.findtext(q(CLIENT, "body")) == "hi bob"
    await eventually(lambda: sent)  # slixmpp accepts it as a carbon from its own account
    assert sent[0]["carbon_sent"]["body"] == "hi bob"
    assert await before_marker(xmpp, plain) == []
    assert await before_marker(xmpp, sender) == []
    assert (await sender.client.plugin["xep_0280"].enable(timeout=5)).xml.get("type") == "result"
    mid = send(sender, "bob@localhost", "<body>once more</body>")
    await expect_original(bob, mid)
    assert len(await before_marker(xmpp, other)) == 1
    assert await before_marker(xmpp, sender) == []  # §8: not to the sending client


async def test_a_message_to_oneself_is_copied_once(xmpp) -> None:
    await xmpp.add_user("alice")
    a = await device(xmpp, "alice", "a")
    b = await device(xmpp, "alice", "b")
    c = await device(xmpp, "alice", "c")
    mid = send(a, b.jid, "<body>note to self</body>")
    await expect_original(b, mid)
    (copy,) = await before_marker(xmpp, c)
    assert unwrap(copy, "sent", c).get("id") == mid
    assert await before_marker(xmpp, a) == []
    assert await before_marker(xmpp, b) == []


async def test_messages_to_another_domain_are_copied_as_sent(xmpp) -> None:
    await xmpp.add_user("alice")
    a = await device(xmpp, "alice", "a", carbons=False)
    b = await device(xmpp, "alice", "b")
    routed: list[Any] = []
    xmpp.server.hooks.add("route/remote", lambda stanza: routed.append(stanza) or True, -100)  # s2s
    mid = send(a, "romeo@montague.example/home", "<body>far away</body>")
    await eventually(lambda: routed)
    (copy,) = await before_marker(xmpp, b)
    original = unwrap(copy, "sent", b)
    assert original.get("to") == "romeo@montague.example/home" and original.get("id") == mid
    assert [s.id for s in routed] == [mid]


async def test_private_and_no_copy_are_not_copied(xmpp) -> None:
    for user in ("alice", "bob"):
        await xmpp.add_user(user)
    sender = await device(xmpp, "alice", "sender")
    other = await device(xmpp, "alice", "other")
    top = await device(xmpp, "bob", "top", priority=5)
    low = await device(xmpp, "bob", "low")
    private = f"<body>secret</body><private xmlns='{CARBONS}'/><no-copy xmlns='{HINTS}'/>"
    mid = send(sender, "bob@localhost", private)
    original = await expect_original(top, mid)
    # §9 interop note: the <private/> element is not removed from what the recipient gets.
    assert original.find(q(CARBONS, "private")) is not None
    assert original.find(q(HINTS, "no-copy")) is not None
    assert await before_marker(xmpp, other) == []
    assert await before_marker(xmpp, low) == []
    mid = send(sender, "bob@localhost", "<body>public</body>")  # the control
    await expect_original(top, mid)
    assert len(await before_marker(xmpp, other)) == 1 and len(await before_marker(xmpp, low)) == 1


async def test_groupchat_error_headline_and_bodiless_normal_are_not_copied(xmpp) -> None:
    for user in ("alice", "bob"):
        await xmpp.add_user(user)
    top = await device(xmpp, "alice", "top", priority=5)
    other = await device(xmpp, "alice", "other")
    bob = await device(xmpp, "bob", "x")
    bob_other = await device(xmpp, "bob", "y", priority=-1)
    cases = [
        ("headline", "<body>news</body>"),
        ("error", ("<body>x</body><error type='cancel'><item-not-found "
                   "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>")),
        ("groupchat", "<body>room talk</body>"),  # to a full JID: delivered (§8.5.3.1)
        (None, "<subject>no body</subject>"),
    ]
    for mtype, xml in cases:
        mid = send(bob, top.jid, xml, mtype=mtype)
        await expect_original(top, mid)
    mid = send(bob, "alice@localhost", "<body>room</body>", mtype="groupchat")
    assert error_condition(await bob.next()) == ("cancel", "service-unavailable")  # §8.5.2.1.1
    assert await before_marker(xmpp, other) == []
    assert await before_marker(xmpp, bob_other) == []  # nor sent copies of bob's own
    mid = send(bob, "alice@localhost", "<body>normal</body>", mtype=None)  # the control
    await expect_original(top, mid)
    (copy,) = await before_marker(xmpp, other)
    assert unwrap(copy, "received", other, mtype=None).get("id") == mid
    (copy,) = await before_marker(xmpp, bob_other)
    assert unwrap(copy, "sent", bob_other, mtype=None).get("id") == mid


async def test_a_websocket_session_gets_carbons(web: WebServer) -> None:  # noqa: F811
    srv = web.xmpp
    for user in ("alice", "bob"):
        await srv.add_user(user)
    top = await device(srv, "alice", "tcp", priority=5)
    bob = await device(srv, "bob", "x", carbons=False)
    ws = await WSClient.open(web.ws_url)
    ws_jid = await ws.login("alice", resource="web")
    await ws.send(f"<presence xmlns='{CLIENT}'/>")
    await ws.send(f"<iq xmlns='{CLIENT}' type='set' id='c1'><enable xmlns='{CARBONS}'/></iq>")
    result = await ws.recv_until(f"{{{CLIENT}}}iq")
    assert result.get("type") == "result" and result.get("id") == "c1"
    mid = send(bob, "alice@localhost", "<body>to the browser too</body>")
    await expect_original(top, mid)
    copy = await ws.recv_until(f"{{{CLIENT}}}message")
    assert copy.nsmap[None] == CLIENT  # RFC 7395 §3.3.3
    assert copy.get("from") == "alice@localhost" and copy.get("to") == ws_jid
    original = copy.find(f"{{{CARBONS}}}received/{{{FORWARD}}}forwarded/{{{CLIENT}}}message")
    assert original is not None, etree.tostring(copy)
    assert original.get("id") == mid and original.get("from") == bob.jid
    mid = send(top, "bob@localhost", "<body>reply</body>")
    await expect_original(bob, mid)
    copy = await ws.recv_until(f"{{{CLIENT}}}message")
    original = copy.find(f"{{{CARBONS}}}sent/{{{FORWARD}}}forwarded/{{{CLIENT}}}message")
    assert original is not None and original.get("id") == mid, etree.tostring(copy)
    await ws.close()
