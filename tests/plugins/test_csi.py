"""XEP-0352 Client State Indication on the wire: a raw socket goes inactive, a slixmpp
contact sends it presence, chat states and messages; what arrives, and in which order."""

from __future__ import annotations

import re
from typing import Any

import pytest
from lxml import etree

from plugins.csi import MODULE, QUEUE
from tests.clients import Client, RawClient, connect, header, stream_error_condition
from tests.plugins.wire import raw_login
from tests.xmppd.test_no_loss import reset
from tests.support.quiet import raw_nothing_more, raw_settle, settle
from tests.support.waiting import wait_for
from tests.transports.conftest import WSClient, make_web, web  # noqa: F401 (fixtures)
from xmppcore.jid import JID

pytestmark = pytest.mark.django_db(transaction=True)
CSI = "urn:xmpp:csi:0"
STATES = "http://jabber.org/protocol/chatstates"
ALICE = "alice@localhost/raw"


def stanzas(data: bytes) -> list[bytes]:
    """The top-level <message/> and <presence/> elements in what a RawClient read."""
    return re.findall(rb"<(?:message|presence)\b.*?(?:</message>|</presence>|/>)(?=<|$)", data, re.S)


async def inactive_alice(srv: Any) -> tuple[RawClient, Any, Any]:
    """alice (raw, inactive) and bob (slixmpp); returns (raw, bob, alice's session)."""
    await srv.add_user("alice")
    await srv.add_user("bob")
    raw = await raw_login(srv, "alice")
    raw.send(f"<inactive xmlns='{CSI}'/>")
    session = srv.server.sessions.get(JID.parse(ALICE))
    await wait_for(lambda: session.data.get(MODULE) == "inactive")
    return raw, await connect(srv, "bob@localhost/pc", presence=False), session


def presence(bob: Any, status: str) -> None:
    bob.send_raw(f"<presence to='{ALICE}'><status>{status}</status></presence>")


def chat(bob: Any, payload: str, mid: str) -> None:
    bob.send_raw(f"<message to='{ALICE}' type='chat' id='{mid}'>{payload}</message>")


async def test_feature_after_authentication_only(xmpp: Any) -> None:
    await xmpp.add_user("alice")
    raw = await RawClient.open(xmpp.host, xmpp.port)
    raw.send(header())
    before = await raw.read_until(rb"</stream:features>")
    assert CSI.encode() not in before
    raw.take()
    raw.send(f"<inactive xmlns='{CSI}'/>")
    data = await raw.read_to_eof()
    assert stream_error_condition(data) == "not-authorized"  # no session to be inactive yet
    from tests.plugins.zlibraw import login
    raw = await RawClient.open(xmpp.host, xmpp.port)
    assert f"<csi xmlns=\"{CSI}\"/>".encode() in await login(raw, "alice")


async def test_presence_and_chat_states_wait_for_a_message_with_a_body(xmpp: Any) -> None:
    raw, bob, session = await inactive_alice(xmpp)
    presence(bob, "one")
    chat(bob, f"<composing xmlns='{STATES}'/>", "c1")
    presence(bob, "two")
    chat(bob, f"<paused xmlns='{STATES}'/>", "c2")
    presence(bob, "three")
    await settle(bob)  # the server has routed all of it
    assert len(session.data[QUEUE].held) == 2  # one presence, one chat state: the newest
    assert raw.buffer == b""
    chat(bob, "<body>wake up</body>", "m1")
    data = await raw.read_until(rb"wake up</body>.*?</message>")
    got = stanzas(data)
    assert len(got) == 3, data
    assert b"id=\"c2\"" in got[0] and b"<paused" in got[0]  # newest chat state, at its place
    assert b"<status>three</status>" in got[1]  # newest presence only
    assert b"id=\"m1\"" in got[2]
    assert session.data[MODULE] == "inactive" and not session.data[QUEUE].held  # still inactive


async def test_active_flushes_before_what_follows_it(xmpp: Any) -> None:
    raw, bob, session = await inactive_alice(xmpp)
    presence(bob, "while away")
    await settle(bob)
    await wait_for(lambda: session.data[QUEUE].held)
    raw.send(f"<active xmlns='{CSI}'/><iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
    data = await raw.read_until(rb"id=\"p1\"")
    assert data.index(b"while away") < data.index(b"id=\"p1\"")  # §5: flushed before the pong
    assert MODULE not in session.data and QUEUE not in session.data
    assert session.outbound == ()  # active: no filter, nothing on the hot path
    presence(bob, "now at once")
    await raw.read_until(rb"now at once")


@pytest.mark.parametrize("payload,kind", [
    ("<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'/></encrypted>", "message"),
    ("<subscribe/>", "presence"),
])
async def test_important_stanzas_are_never_held(xmpp: Any, payload: str, kind: str) -> None:
    raw, bob, session = await inactive_alice(xmpp)
    raw.send("<presence/>")  # available: subscription requests are delivered (RFC 6121 §3.1.3)
    await wait_for(lambda: session.is_available)
    presence(bob, "held")
    await settle(bob)
    assert raw.buffer == b"" and session.data[QUEUE].held
    if kind == "message":
        chat(bob, payload, "e1")
        data = await raw.read_until(rb"</encrypted>.*?</message>")
    else:
        bob.send_raw("<presence to='alice@localhost' type='subscribe'/>")
        data = await raw.read_until(rb"type=\"subscribe\"")
    assert data.index(b"held") < data.index(b"e1\"" if kind == "message" else b"subscribe")


async def test_mentions_in_a_room_wake_the_client(xmpp: Any) -> None:
    raw, bob, session = await inactive_alice(xmpp)
    room = "room@conference.localhost"
    raw.send(f"<presence to='{room}/Alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    await raw_settle(raw)  # the join went out: the nick is known (the ping's pong flushed too)
    raw.take()  # the join's error: there is no such room

    def groupchat(body: str) -> None:
        session.send(etree.fromstring(
            f"<message xmlns='jabber:client' from='{room}/bob' to='{ALICE}' type='groupchat'>"
            f"<body>{body}</body></message>"))
    groupchat("chatter")
    groupchat("more chatter")
    assert len(session.data[QUEUE].held) == 2 and raw.buffer == b""
    groupchat("hey alice, look")
    data = await raw.read_until(rb"look</body>")
    assert [b"chatter</body>" in s for s in stanzas(data)] == [True, True, False]


async def test_a_full_buffer_is_flushed(make_server: Any) -> None:
    srv = await make_server(csi_queue_max=3)
    raw, bob, session = await inactive_alice(srv)
    for i in range(3):
        chat(bob, f"<received xmlns='urn:xmpp:receipts' id='r{i}'/>", f"x{i}")
    data = await raw.read_until(rb"id=\"x2\"")
    assert [re.search(rb'id="(x\d)"', s).group(1) for s in stanzas(data)] == [b"x0", b"x1", b"x2"]
    assert not session.data[QUEUE].held


async def test_a_closed_stream_starts_active(xmpp: Any) -> None:
    raw, bob, session = await inactive_alice(xmpp)
    raw.send("</stream:stream>")
    await raw.read_to_eof()
    await wait_for(lambda: xmpp.server.sessions.get(JID.parse(ALICE)) is None)
    raw = await raw_login(xmpp, "alice")
    new = xmpp.server.sessions.get(JID.parse(ALICE))
    assert new is not session and MODULE not in new.data and new.outbound == ()
    presence(bob, "fresh")
    await raw.read_until(rb"fresh")


async def test_carbons_are_judged_by_what_they_carry(xmpp: Any) -> None:
    """An inactive phone: a carbon of a chat state waits, a carbon of a body does not."""
    raw, bob, session = await inactive_alice(xmpp)
    raw.send("<iq type='set' id='cb'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
    await wait_for(lambda: session.data.get("carbons") is True)
    await raw_settle(raw)
    raw.take()
    pc = await connect(xmpp, "alice@localhost/pc", presence=False)
    pc.send_raw(f"<message to='bob@localhost/pc' type='chat' id='s1'><composing xmlns='{STATES}'/></message>")
    await settle(pc)
    await wait_for(lambda: session.data[QUEUE].held)
    assert raw.buffer == b""
    pc.send_raw("<message to='bob@localhost/pc' type='chat' id='s2'><body>sent from the pc</body></message>")
    data = await raw.read_until(rb"sent from the pc</body>")
    got = stanzas(data)
    assert len(got) == 2 and b"id=\"s1\"" in got[0] and b"id=\"s2\"" in got[1]
    assert all(b"<sent xmlns=\"urn:xmpp:carbons:2\">" in s for s in got)


async def test_websocket_clients_too(web: Any) -> None:
    await web.xmpp.add_user("alice")
    await web.xmpp.add_user("bob")
    ws = await WSClient.open(web.ws_url)
    assert await ws.login("alice", resource="raw") == ALICE
    await ws.send(f"<inactive xmlns='{CSI}'/>")
    session = web.xmpp.server.sessions.get(JID.parse(ALICE))
    await wait_for(lambda: session.data.get(MODULE) == "inactive")
    bob = await connect(web.xmpp, "bob@localhost/pc", presence=False)
    presence(bob, "held")
    await settle(bob)
    assert session.data[QUEUE].held
    chat(bob, "<body>now</body>", "w1")
    first, second = await ws.recv_el(), await ws.recv_el()
    assert first.tag == "{jabber:client}presence" and first.findtext("{jabber:client}status") == "held"
    assert second.get("id") == "w1", etree.tostring(second)


@pytest.mark.parametrize("ending", ["close", "reset"])
async def test_held_messages_are_routed_again_when_the_session_ends(xmpp: Any, ending: str) -> None:
    """Nothing held is lost: a receipt held for the inactive resource reaches the user's other
    resource (RFC 6121 §8.5.3.2.1) when the inactive one goes, cleanly or not."""
    raw, bob, session = await inactive_alice(xmpp)
    pc = await raw_login(xmpp, "alice", resource="pc")
    pc.send("<presence/>")
    await raw_settle(pc)  # pc's initial presence is in: it is available
    chat(bob, "<received xmlns='urn:xmpp:receipts' id='r1'/>", "rr")
    presence(bob, "dropped")
    await settle(bob)
    await wait_for(lambda: len(session.data[QUEUE].held) == 2)
    if ending == "close":
        raw.send("</stream:stream>")
    else:
        reset(raw)
    data = await pc.read_until(rb"<received xmlns=\"urn:xmpp:receipts\" id=\"r1\"/></message>")
    assert b"id=\"rr\"" in stanzas(data)[-1]
    await raw_nothing_more(pc, rb"dropped")  # presence is not routed again


async def test_slixmpp_xep_0352(xmpp: Any) -> None:
    """slixmpp's own XEP-0352 plugin finds the stream feature and goes inactive; a presence
    update waits, a message with a body brings it, in order."""
    await xmpp.add_user("alice")
    await xmpp.add_user("bob")
    alice = Client("alice@localhost/slix", "secret")
    alice.register_plugin("xep_0352")  # before connecting: it negotiates the stream feature
    alice["feature_mechanisms"].unencrypted_plain = True
    alice.enable_starttls = alice.enable_direct_tls = False
    alice.enable_plaintext = True
    seen: list[str] = []
    alice.add_filter("in", lambda st: seen.append(st.xml.tag.split("}")[1]) or st)
    alice.connect(xmpp.host, xmpp.port)
    xmpp.clients.append(alice)
    await wait_for(lambda: alice.plugin["xep_0352"].enabled and alice.boundjid.resource == "slix")
    alice.plugin["xep_0352"].send_inactive()
    session = await wait_for(lambda: xmpp.server.sessions.get(JID.parse("alice@localhost/slix")))
    await wait_for(lambda: session.data.get(MODULE) == "inactive")
    bob = await connect(xmpp, "bob@localhost/pc", presence=False)
    seen.clear()
    bob.send_raw("<presence to='alice@localhost/slix'><status>later</status></presence>")
    await settle(bob)
    assert session.data[QUEUE].held and seen == []
    bob.send_message(mto="alice@localhost/slix", mbody="now", mtype="chat")
    message = await alice.next_message()
    assert message["body"] == "now" and seen == ["presence", "message"]
