"""XEP-0198 on every transport: direct TLS (XEP-0368) and WebSocket (RFC 7395) with raw
clients, and a real client library (slixmpp's xep_0198) on TCP."""

from __future__ import annotations

import asyncio
import base64

import pytest
from lxml import etree

from tests.clients import Client
from tests.plugins.sm_wire import SM, bodies, element, raw_auth, reset, sm_login
from tests.plugins.wire import raw_login
from tests.support.quiet import raw_settle
from tests.support.waiting import wait_for
from tests.transports.conftest import FRAMING, WSClient, make_web  # noqa: F401 (fixture)
from xmppcore.jid import JID

pytestmark = pytest.mark.django_db(transaction=True)
PHONE = JID.parse("alice@localhost/phone")


def chat(body: str) -> str:
    return f"<message to='alice@localhost/phone' type='chat'><body>{body}</body></message>"


async def test_direct_tls_enable_cut_and_resume(xmpp) -> None:
    await xmpp.add_user("alice")
    await xmpp.add_user("bob")
    raw, enabled = await sm_login(xmpp, "alice", tls=True, presence=False)
    assert enabled.get("resume") == "true"
    bob = await raw_login(xmpp, "bob", resource="desk")
    bob.send(chat("one"))
    await raw.read_until(rb"one</body>")
    reset(raw)
    await wait_for(lambda: xmpp.server.sessions.get(PHONE).is_detached, what="alice detached")
    bob.send(chat("two"))
    await raw_settle(bob)
    again = await raw_auth(xmpp, "alice", tls=True)
    again.send(f"<resume xmlns='{SM}' previd='{enabled.get('id')}' h='1'/>")
    data = await again.read_until(rb"two</body>")
    assert element(data, "resumed").get("h") == "0" and bodies(data) == ["two"]
    assert xmpp.server.sessions.get(PHONE).transport == "tls"


async def ws_auth(web, user: str) -> tuple[WSClient, etree._Element]:
    """A WebSocket stream authenticated and restarted: (client, its <stream:features/>)."""
    ws = await WSClient.open(web.ws_url)
    await ws.open_stream()
    token = base64.b64encode(f"\0{user}\0secret".encode()).decode()
    await ws.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
    await ws.recv_el()
    _, features = await ws.open_stream()
    return ws, features


async def test_websocket_enable_acks_cut_and_resume(make_web) -> None:
    web = await make_web()
    await web.xmpp.add_user("alice")
    await web.xmpp.add_user("bob")
    ws, features = await ws_auth(web, "alice")
    assert features.find(f"{{{SM}}}sm") is not None
    await ws.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                  "<resource>phone</resource></bind></iq>")
    await ws.recv_el()
    await ws.send(f"<enable xmlns='{SM}' resume='true'/>")
    enabled = await ws.recv_el()
    assert enabled.tag == f"{{{SM}}}enabled" and enabled.get("resume") == "true"
    bob = await raw_login(web.xmpp, "bob", resource="desk")
    bob.send(chat("one"))
    message = await ws.recv_until("{jabber:client}message")
    assert message.findtext("{jabber:client}body") == "one"
    await ws.send(f"<r xmlns='{SM}'/>")
    ack = await ws.recv_until(f"{{{SM}}}a")
    assert ack.get("h") == "0"
    ws.ws.transport.abort()  # no <close/>, no close frame: the connection is just gone
    await wait_for(lambda: web.xmpp.server.sessions.get(PHONE).is_detached, what="alice detached")
    bob.send(chat("two"))
    await raw_settle(bob)
    again, _ = await ws_auth(web, "alice")
    await again.send(f"<resume xmlns='{SM}' previd='{enabled.get('id')}' h='0'/>")
    resumed = await again.recv_el()
    assert resumed.tag == f"{{{SM}}}resumed" and resumed.get("h") == "0"
    texts = [(await again.recv_until("{jabber:client}message")).findtext("{jabber:client}body") for _ in range(2)]
    assert texts == ["one", "two"]


async def sm_client(srv, jid: str, resource: str) -> tuple[Client, dict[str, asyncio.Event]]:
    """slixmpp with its XEP-0198 plugin (resumption on), logged in; events by name."""
    client = Client(f"{jid}/{resource}", "secret")
    client.register_plugin("xep_0198")
    client["feature_mechanisms"].unencrypted_plain = True
    client.enable_direct_tls = client.enable_starttls = False
    client.enable_plaintext = True
    events = {name: asyncio.Event() for name in ("session_start", "sm_enabled", "session_resumed")}
    for name, event in events.items():
        client.add_event_handler(name, lambda _stanza, event=event: event.set())
    srv.clients.append(client)
    client.connect(srv.host, srv.port)
    await asyncio.wait_for(events["sm_enabled"].wait(), 10)
    return client, events


async def test_slixmpp_enables_resumes_and_gets_what_it_missed(xmpp) -> None:
    await xmpp.add_user("alice")
    await xmpp.add_user("bob")
    alice, events = await sm_client(xmpp, "alice@localhost", "phone")
    assert xmpp.server.sessions.get(PHONE).data["sm"].resume_id == alice["xep_0198"].sm_id
    bob = await raw_login(xmpp, "bob", resource="desk")
    bob.send(chat("before"))
    assert (await alice.next_message())["body"] == "before"
    alice.transport.abort()  # the phone loses its network
    await wait_for(lambda: xmpp.server.sessions.get(PHONE).is_detached, what="alice detached")
    bob.send(chat("while away"))
    await raw_settle(bob)
    alice.connect(xmpp.host, xmpp.port)
    await asyncio.wait_for(events["session_resumed"].wait(), 10)
    assert (await alice.next_message())["body"] == "while away"
    state = xmpp.server.sessions.get(PHONE).data["sm"]
    await wait_for(lambda: not state.unacked, what="slixmpp acknowledged everything")
