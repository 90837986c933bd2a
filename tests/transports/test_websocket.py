"""XMPP over WebSocket (RFC 7395) on the wire: a `websockets` client speaking the framing by
hand against the ASGI app (uvicorn in-process, `web` fixture), slixmpp users on TCP beside it,
and one run of the real `manage.py xmppd` (Daphne, ws:// and wss://)."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import urllib.request
from typing import Any, Callable, Iterator

import pytest
import scramp
from lxml import etree
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.clients import connect
from tests.support.process import child_env, migrate_with_users, start_xmppd
from tests.support.waiting import wait_for
from tests.xmppd.test_cluster import REDIS_URL, redis_layer  # noqa: F401 (fixture)
from tests.transports.conftest import CLIENT, FRAMING, WebServer, WSClient

STREAM = "http://etherx.jabber.org/streams"
STREAMS_ERR = "urn:ietf:params:xml:ns:xmpp-streams"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
OPEN = f"<open xmlns='{FRAMING}' to='localhost' version='1.0'/>"


async def drain(client: WSClient, timeout: float = 5.0) -> tuple[list[etree._Element], int | None]:
    """Every message until the server closes the WebSocket, and the close code."""
    out: list[etree._Element] = []
    try:
        while True:
            out.append(await client.recv_el(timeout))
    except ConnectionClosed:
        pass
    await client.wait_closed(timeout)
    return out, client.ws.close_code


def assert_stream_error(messages: list[etree._Element], condition: str, *, header: bool) -> None:
    """§3.5: [<open/>,] <stream:error/> with xmlns:stream declared in its own message, <close/>."""
    tags = [el.tag for el in messages]
    expected = [f"{{{STREAM}}}error", f"{{{FRAMING}}}close"]
    assert tags[-2:] == expected, tags
    if header:
        assert tags[0] == f"{{{FRAMING}}}open", tags
        assert messages[0].get("from") == "localhost" and messages[0].get("version") == "1.0"
    error = messages[-2]
    assert error.nsmap.get("stream") == STREAM
    assert error[0].tag == f"{{{STREAMS_ERR}}}{condition}", etree.tostring(error)


def ws_session(web: WebServer, full_jid: str) -> Any:
    from xmppcore.jid import JID

    return web.xmpp.server.sessions.get(JID.parse(full_jid))


# -- negotiation ---------------------------------------------------------------------------

async def test_open_features_plain_login_and_bind(web: WebServer) -> None:
    await web.xmpp.add_user("alice")
    c = await WSClient.open(web.ws_url)
    assert c.ws.subprotocol == "xmpp"  # §3.1
    opened, features = await c.open_stream()
    assert opened.tag == f"{{{FRAMING}}}open" and opened.nsmap == {None: FRAMING}
    assert opened.get("from") == "localhost" and opened.get("version") == "1.0" and opened.get("id")
    assert opened.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    assert features.tag == f"{{{STREAM}}}features" and features.nsmap["stream"] == STREAM
    mechanisms = [m.text for m in features.iter(f"{{{SASL}}}mechanism")]
    assert "PLAIN" in mechanisms and "SCRAM-SHA-1" in mechanisms
    assert features.find("{urn:ietf:params:xml:ns:xmpp-tls}starttls") is None  # §3.8: no STARTTLS
    token = base64.b64encode(b"\0alice\0secret").decode()
    await c.send(f"<auth xmlns='{SASL}' mechanism='PLAIN'>{token}</auth>")
    assert (await c.recv_el()).tag == f"{{{SASL}}}success"
    opened2, features2 = await c.open_stream()  # §3.7: restart = a new <open/>, no <close/>
    assert opened2.tag == f"{{{FRAMING}}}open" and opened2.get("id") != opened.get("id")
    assert features2.find("{urn:ietf:params:xml:ns:xmpp-bind}bind") is not None
    await c.send(f"<iq xmlns='{CLIENT}' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                 "<resource>web</resource></bind></iq>")
    bound = await c.recv_el()
    assert bound.tag == f"{{{CLIENT}}}iq" and bound.get("type") == "result" and bound.get("id") == "b1"
    assert bound.findtext(".//{urn:ietf:params:xml:ns:xmpp-bind}jid") == "alice@localhost/web"
    session = ws_session(web, "alice@localhost/web")
    assert session is not None and session.transport == "ws"
    # XEP-0199 to the server: the same IQ handlers as on TCP.
    await c.send(f"<iq xmlns='{CLIENT}' type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    pong = await c.recv_el()
    assert pong.get("type") == "result" and pong.get("id") == "p1" and pong.get("from") == "localhost"
    await c.close()


async def test_scram_sha_256_login(web: WebServer) -> None:
    await web.xmpp.add_user("alice", "pencil")
    c = await WSClient.open(web.ws_url)
    await c.open_stream()
    scram = scramp.ScramClient(["SCRAM-SHA-256"], "alice", "pencil")
    first = base64.b64encode(scram.get_client_first().encode()).decode()
    await c.send(f"<auth xmlns='{SASL}' mechanism='SCRAM-SHA-256'>{first}</auth>")
    challenge = await c.recv_el()
    assert challenge.tag == f"{{{SASL}}}challenge"
    scram.set_server_first(base64.b64decode(challenge.text).decode())
    final = base64.b64encode(scram.get_client_final().encode()).decode()
    await c.send(f"<response xmlns='{SASL}'>{final}</response>")
    success = await c.recv_el()
    assert success.tag == f"{{{SASL}}}success"
    scram.set_server_final(base64.b64decode(success.text).decode())  # raises if the server lied
    await c.close()


# -- routing between WebSocket and TCP ------------------------------------------------------

async def test_message_to_a_tcp_user_and_back(web: WebServer) -> None:
    await web.xmpp.add_user("alice")
    await web.xmpp.add_user("bob")
    bob = await connect(web.xmpp, "bob@localhost", resource="tcp")
    c = await WSClient.open(web.ws_url)
    alice = await c.login("alice", resource="web")
    await c.send(f"<message xmlns='{CLIENT}' to='bob@localhost/tcp' type='chat' id='m1'>"
                 "<body>hello from a browser &amp; more</body></message>")
    got = await bob.next_message()
    assert str(got["from"]) == alice and got["body"] == "hello from a browser & more" and got["id"] == "m1"
    bob.send_message(mto=alice, mbody="hello from TCP", mtype="chat")
    reply = await c.recv_until(f"{{{CLIENT}}}message")
    assert reply.nsmap[None] == CLIENT  # §3.3.3: every stanza message carries its namespace
    assert reply.get("from") == "bob@localhost/tcp" and reply.get("to") == alice
    assert reply.findtext(f"{{{CLIENT}}}body") == "hello from TCP"
    await c.close()


async def test_presence_between_websocket_and_tcp(web: WebServer) -> None:
    from rosters import actions
    from xmppcore.jid import JID
    from xmppd.storage import db

    await web.xmpp.add_user("alice")
    await web.xmpp.add_user("bob")
    a, b = JID.parse("alice@localhost"), JID.parse("bob@localhost")
    for user, contact in ((a, b), (b, a)):  # mutual subscription (RFC 6121 Appendix A)
        await db(actions.do_outbound, user.local, user.domain, contact, "subscribe")
        await db(actions.do_inbound, contact.local, contact.domain, user, "subscribe", "<presence/>")
        await db(actions.do_outbound, contact.local, contact.domain, user, "subscribed")
        await db(actions.do_inbound, user.local, user.domain, contact, "subscribed")
    bob = await connect(web.xmpp, "bob@localhost", resource="tcp", presence=False)
    bob_presences: asyncio.Queue[Any] = asyncio.Queue()
    bob.add_event_handler("presence", bob_presences.put_nowait)
    await asyncio.wait_for(bob.get_roster(), 5)
    bob.send_presence(pstatus="at the desk")
    c = await WSClient.open(web.ws_url)
    alice = await c.login("alice", resource="web")
    await c.send(f"<iq xmlns='{CLIENT}' type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
    roster = await c.recv_until(f"{{{CLIENT}}}iq")
    assert [i.get("jid") for i in roster.iter("{jabber:iq:roster}item")] == ["bob@localhost"]
    await c.send(f"<presence xmlns='{CLIENT}'><status>on the web</status></presence>")
    # RFC 6121 §4.2.3: the server probes Bob for Alice; his presence comes over the WebSocket.
    seen = await c.recv_until(f"{{{CLIENT}}}presence")
    while seen.get("from") != "bob@localhost/tcp":
        seen = await c.recv_until(f"{{{CLIENT}}}presence")
    assert seen.get("type") is None and seen.findtext(f"{{{CLIENT}}}status") == "at the desk"

    async def bob_sees(predicate: Callable[[Any], bool]) -> Any:
        while True:
            p = await asyncio.wait_for(bob_presences.get(), 5)
            if predicate(p):
                return p

    got = await bob_sees(lambda p: str(p["from"]) == alice and p.xml.get("type") is None)
    assert got["status"] == "on the web"
    await c.send(f"<close xmlns='{FRAMING}'/>")
    await drain(c)
    await bob_sees(lambda p: str(p["from"]) == alice and p.xml.get("type") == "unavailable")


async def test_offline_messages_are_flushed_to_a_websocket_session(web: WebServer) -> None:
    await web.xmpp.add_user("alice")
    await web.xmpp.add_user("bob")
    bob = await connect(web.xmpp, "bob@localhost", resource="tcp")
    bob.send_message(mto="alice@localhost", mbody="while you were away", mtype="chat")
    # Bob's stream is handled in order: once the server answers this ping, the message is stored.
    await bob.plugin["xep_0199"].ping(jid="localhost", timeout=5)
    c = await WSClient.open(web.ws_url)
    await c.login("alice", resource="web")
    await c.send(f"<presence xmlns='{CLIENT}'/>")
    stored = await c.recv_until(f"{{{CLIENT}}}message")
    assert stored.findtext(f"{{{CLIENT}}}body") == "while you were away"
    assert stored.find("{urn:xmpp:delay}delay") is not None
    await c.close()


# -- closing and stream errors ---------------------------------------------------------------

async def test_close_handshake(web: WebServer) -> None:
    """§3.6: the client's <close/> is answered with ours, then the server closes the WebSocket."""
    await web.xmpp.add_user("alice")
    c = await WSClient.open(web.ws_url)
    await c.login("alice", resource="web")
    assert ws_session(web, "alice@localhost/web") is not None
    await c.send(f"<close xmlns='{FRAMING}'/>")
    messages, code = await drain(c)
    assert [el.tag for el in messages] == [f"{{{FRAMING}}}close"] and not messages[0].attrib
    assert code == 1000
    await wait_for(lambda: ws_session(web, "alice@localhost/web") is None, what="alice's session closed")


async def test_missing_or_wrong_subprotocol_is_refused(web: WebServer) -> None:
    for offered in ((), ("xmpp-not", "chat")):
        with pytest.raises(InvalidStatus) as exc:
            await WSClient.open(web.ws_url, subprotocols=offered)
        assert exc.value.response.status_code == 403


async def test_other_websocket_paths_are_refused(web: WebServer) -> None:
    with pytest.raises(InvalidStatus) as exc:
        await WSClient.open(web.url("/xmpp-websocket/x").replace("http", "ws"))
    assert exc.value.response.status_code == 403


@pytest.mark.parametrize("first, condition", [
    (f"<open xmlns='jabber:client' to='localhost' version='1.0'/>", "invalid-namespace"),
    (f"<message xmlns='{CLIENT}' to='bob@localhost'><body>early</body></message>", "invalid-namespace"),
    (f"<open xmlns='{FRAMING}' to='localhost' version='1.0'><extra/></open>", "bad-format"),
    (f"<open xmlns='{FRAMING}' to='elsewhere.example' version='1.0'/>", "host-unknown"),
    (f"<open xmlns='{FRAMING}' to='localhost'/>", "unsupported-version"),
    ("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
     "to='localhost' version='1.0'>", "not-well-formed"),
])
async def test_bad_first_message(web: WebServer, first: str, condition: str) -> None:
    c = await WSClient.open(web.ws_url)
    await c.send(first)
    messages, code = await drain(c)
    assert_stream_error(messages, condition, header=True)
    assert len(messages) == 3 and code == 1000


@pytest.mark.parametrize("message, condition", [
    (f"<message xmlns='{CLIENT}'><body>x</message>", "not-well-formed"),
    (f"<message xmlns='{CLIENT}'><body>incomplete</body>", "not-well-formed"),
    (OPEN, "bad-format"),
    (f"<message xmlns='{CLIENT}'><!-- hidden --></message>", "restricted-xml"),
    (f"<message xmlns='{CLIENT}'><body>{'x' * 300_000}</body></message>", "policy-violation"),
])
async def test_bad_message_in_an_open_stream(web: WebServer, message: str, condition: str) -> None:
    await web.xmpp.add_user("alice")
    c = await WSClient.open(web.ws_url)
    await c.login("alice", resource="web")
    await c.send(message)
    messages, code = await drain(c)
    assert_stream_error(messages, condition, header=False)
    assert code == 1000
    assert ws_session(web, "alice@localhost/web") is None


async def test_binary_message_is_a_stream_error(web: WebServer) -> None:
    c = await WSClient.open(web.ws_url)
    await c.ws.send(OPEN.encode())  # bytes: a binary frame (§3.2 wants text)
    messages, _ = await drain(c)
    assert_stream_error(messages, "bad-format", header=True)


async def test_conflict_ends_the_older_session_with_a_stream_error(web: WebServer) -> None:
    await web.xmpp.add_user("alice")
    first = await WSClient.open(web.ws_url)
    await first.login("alice", resource="same")
    second = await WSClient.open(web.ws_url)
    await second.login("alice", resource="same")
    messages, code = await drain(first)
    assert_stream_error(messages, "conflict", header=False)
    assert code == 1000
    assert ws_session(web, "alice@localhost/same") is not None
    await second.close()


async def test_see_other_uri(web: WebServer, settings: Any) -> None:
    settings.XMPP_WS_SEE_OTHER_URI = "wss://other.example/xmpp-websocket"
    c = await WSClient.open(web.ws_url)
    await c.send(OPEN)
    messages, code = await drain(c)
    assert [el.tag for el in messages] == [f"{{{FRAMING}}}close"]  # §3.6.1: instead of an <open/>
    assert messages[0].get("see-other-uri") == "wss://other.example/xmpp-websocket"
    assert code == 1000


async def test_origin_check(web: WebServer, settings: Any) -> None:
    settings.XMPP_WS_ALLOWED_ORIGINS = ["https://chat.example", "http://.intranet.example"]
    with pytest.raises(InvalidStatus) as exc:
        await WSClient.open(web.ws_url, origin="https://evil.example")
    assert exc.value.response.status_code == 403
    for origin in ("https://chat.example", "http://team.intranet.example", None):
        c = await WSClient.open(web.ws_url, origin=origin)  # no Origin: not a browser, let in
        opened, _ = await c.open_stream()
        assert opened.tag == f"{{{FRAMING}}}open"
        await c.close()


# -- two nodes: a WebSocket session reached over the Redis channel layer ------------------------

async def test_websocket_session_on_one_node_chats_with_a_tcp_user_on_another(
        make_server: Any, make_web: Any, redis_layer: Any) -> None:
    from xmppcore.jid import JID

    prefix = f"xmppsite-test-{secrets.token_hex(4)}"
    tcp_node = await make_server(redis_url=REDIS_URL, cluster_prefix=prefix)
    ws_node = await make_web(redis_url=REDIS_URL, cluster_prefix=prefix)
    await tcp_node.add_user("alice")
    await tcp_node.add_user("bob")
    c = await WSClient.open(ws_node.ws_url)
    alice = await c.login("alice", resource="web")
    assert ws_session(ws_node, alice).channel_name  # reachable from other processes
    bob = await connect(tcp_node, "bob@localhost", resource="tcp")
    await wait_for(lambda: tcp_node.server.sessions.get(JID.parse(alice)) is not None)
    bob.send_message(mto=alice, mbody="from the other node", mtype="chat")
    got = await c.recv_until(f"{{{CLIENT}}}message")
    assert got.get("from") == "bob@localhost/tcp" and got.findtext(f"{{{CLIENT}}}body") == "from the other node"
    await c.send(f"<message xmlns='{CLIENT}' to='bob@localhost/tcp' type='chat'><body>and back</body></message>")
    reply = await bob.next_message()
    assert str(reply["from"]) == alice and reply["body"] == "and back"
    await c.close()


# -- TLS: wss:// counts as a secure stream ----------------------------------------------------

async def test_wss_allows_authentication_when_tls_is_required(make_web: Any) -> None:
    secure = await make_web(tls=True, require_tls=True)
    await secure.xmpp.add_user("alice")
    c = await WSClient.open(secure.ws_url)
    assert (await c.login("alice", resource="tls")) == "alice@localhost/tls"
    assert ws_session(secure, "alice@localhost/tls").transport == "wss"
    await c.close()


async def test_plain_ws_offers_no_authentication_when_tls_is_required(make_web: Any) -> None:
    plain = await make_web(require_tls=True)
    c = await WSClient.open(plain.ws_url)
    _, features = await c.open_stream()
    assert features.find(f"{{{SASL}}}mechanisms") is None
    token = base64.b64encode(b"\0alice\0secret").decode()
    await c.send(f"<auth xmlns='{SASL}' mechanism='PLAIN'>{token}</auth>")
    failure = await c.recv_el()
    assert failure.tag == f"{{{SASL}}}failure" and failure[0].tag == f"{{{SASL}}}encryption-required"
    await c.close()


# -- the transport's write path -----------------------------------------------------------------

async def test_writes_keep_their_order_when_the_servers_send_waits() -> None:
    """`write` runs the ASGI send synchronously; a send that waits (back-pressure) is finished
    in a task and later writes queue behind it, in order."""
    from xmppcore.framing import WebSocketFraming
    from xmppd.transports.websocket import WebSocketTransport

    sent: list[dict] = []
    gate = asyncio.Event()

    async def send(message: dict) -> None:
        if message.get("text") == "<slow/>":
            await gate.wait()
        sent.append(message)

    t = WebSocketTransport(send, {"client": ["127.0.0.1", 1]}, WebSocketFraming(), is_secure=False)
    assert t.write(b"<a/>") and sent == [{"type": "websocket.send", "text": "<a/>"}]
    assert t.write(b"<slow/>") and t.write(b"<b/>")
    t.close()
    assert t.write(b"<after-close/>") is False
    assert [m.get("text") for m in sent] == ["<a/>"]
    gate.set()
    await wait_for(lambda: len(sent) == 4, what="the queued frames and the close sent")
    assert [m.get("text", m["type"]) for m in sent] == ["<a/>", "<slow/>", "<b/>", "websocket.close"]
    assert t.write(b"<c/>") is False


async def test_a_failing_send_marks_the_transport_closed() -> None:
    from xmppcore.framing import WebSocketFraming
    from xmppd.transports.websocket import WebSocketTransport

    async def send(message: dict) -> None:
        raise OSError("connection reset")

    t = WebSocketTransport(send, {}, WebSocketFraming(), is_secure=True)
    assert t.kind == "wss" and t.peer == "" and not t.can_starttls
    assert t.write(b"<a/>") is False and t.is_closed


def test_autobahn_debug_arguments_are_lazy() -> None:
    """autobahn evaluates its debug-log arguments even with debug off; after the module loads
    they cost nothing until a line is formatted, and then read the same."""
    import pprint

    import autobahn.twisted.websocket as twisted_ws
    import autobahn.websocket.protocol as protocol
    from autobahn import util

    from xmppd.server import get_server

    get_server()  # loads XMPP_MODULES, xmppd.transports.websocket among them
    assert getattr(protocol.pformat, "is_lazy", False) and getattr(twisted_ws.hltype, "is_lazy", False)
    value = [("autoPingInterval", 0, "WebSocketServerFactory")]
    lazy = protocol.pformat(value)
    assert not isinstance(lazy, str)  # nothing formatted yet
    assert f"{lazy}" == pprint.pformat(value) and str(lazy) == repr(lazy)
    assert "{x}".format(x=twisted_ws.hlval(5)) == util.hlval(5)


# -- Daphne for real: `manage.py xmppd` (ws:// on the HTTP port, wss:// on the HTTPS port) ---------

@pytest.fixture(scope="module")
def daphne_xmppd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("ws-xmppd")
    env = child_env(data, drop=("XMPP_REQUIRE_TLS", "XMPP_DOMAINS", "XMPP_TLS_CERT", "XMPP_TLS_KEY", "DATABASE_URL",
                                "XMPP_WS_ALLOWED_ORIGINS", "XMPP_WS_SEE_OTHER_URI", "XMPP_WS_CONSIDER_SECURE"),
                    XMPP_LOG_LEVEL="WARNING")
    migrate_with_users(env, "alice", "bob")
    xmppd = start_xmppd(env, data)
    try:
        yield dict(xmppd.ports)
    finally:
        xmppd.stop(timeout=10)


async def test_daphne_serves_ws_and_wss(daphne_xmppd: dict[str, Any]) -> None:
    http, https = daphne_xmppd["http"], daphne_xmppd["https"]
    with pytest.raises(InvalidStatus) as exc:  # §3.1 under Daphne too
        await WSClient.open(f"ws://127.0.0.1:{http}/xmpp-websocket", subprotocols=())
    assert exc.value.response.status_code == 403
    # The operator's default requires TLS: ws:// offers no authentication, wss:// does.
    plain = await WSClient.open(f"ws://127.0.0.1:{http}/xmpp-websocket")
    _, features = await plain.open_stream()
    assert features.find(f"{{{SASL}}}mechanisms") is None
    await plain.close()
    alice = await WSClient.open(f"wss://127.0.0.1:{https}/xmpp-websocket")
    bob = await WSClient.open(f"wss://127.0.0.1:{https}/xmpp-websocket")
    alice_jid = await alice.login("alice", resource="ws")
    bob_jid = await bob.login("bob", resource="wss")
    await alice.send(f"<message xmlns='{CLIENT}' to='{bob_jid}' type='chat'><body>over Daphne</body></message>")
    got = await bob.recv_until(f"{{{CLIENT}}}message")
    assert got.get("from") == alice_jid and got.findtext(f"{{{CLIENT}}}body") == "over Daphne"
    await bob.send(f"<close xmlns='{FRAMING}'/>")
    messages, code = await drain(bob)
    assert [el.tag for el in messages] == [f"{{{FRAMING}}}close"] and code == 1000
    await alice.close()

    def fetch() -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/.well-known/host-meta.json", timeout=5) as r:
            assert r.headers["Access-Control-Allow-Origin"] == "*"
            return json.load(r)

    links = {link["href"] for link in (await asyncio.to_thread(fetch))["links"]}
    assert f"ws://127.0.0.1:{http}/xmpp-websocket" in links and f"wss://127.0.0.1:{https}/xmpp-websocket" in links
