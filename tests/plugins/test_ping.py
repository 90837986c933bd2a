"""XEP-0199: pings to the server, and the server's pings to idle clients, on the wire."""

from __future__ import annotations

import asyncio
import re

import pytest

from plugins.ping import Pinger
from tests.clients import connect, stream_error_condition
from tests.plugins.wire import error_condition, eventually, iq_get, q, raw_login

pytestmark = pytest.mark.django_db(transaction=True)

PING = "urn:xmpp:ping"
PING_IQ_PATTERN = rb"<iq [^>]*type=\"get\"[^>]*>\s*<ping xmlns=\"urn:xmpp:ping\"/>\s*</iq>"
PING_IQ = re.compile(PING_IQ_PATTERN)


def pinger_of(srv) -> Pinger:
    (pinger,) = [h.__self__ for h in srv.server.hooks.handlers("server/stopping")
                 if isinstance(getattr(h, "__self__", None), Pinger)]
    return pinger


async def test_ping_the_server(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    reply = await iq_get(alice, "localhost", f"<ping xmlns='{PING}'/>")
    assert reply.get("type") == "result" and reply.get("from") == "localhost"
    assert len(reply) == 0  # §4.2: an empty IQ-result is the pong
    rtt = await alice["xep_0199"].ping(jid="localhost", timeout=5)
    assert rtt >= 0


async def test_ping_without_to_and_to_own_bare_jid_answered_by_the_server(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    reply = await iq_get(alice, None, f"<ping xmlns='{PING}'/>")
    assert reply.get("type") == "result"
    reply = await iq_get(alice, "alice@localhost", f"<ping xmlns='{PING}'/>")
    assert reply.get("type") == "result" and reply.get("from") == "alice@localhost"


async def test_ping_to_another_users_bare_jid_is_not_answered_for_them(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    await xmpp.add_user("bob")
    reply = await iq_get(alice, "bob@localhost", f"<ping xmlns='{PING}'/>")
    assert error_condition(reply) == ("cancel", "service-unavailable")


async def test_ping_feature_is_advertised(xmpp) -> None:
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    info = await alice["xep_0030"].get_info(jid="localhost", timeout=5)
    assert PING in info["disco_info"]["features"]


async def test_an_idle_client_that_answers_stays_connected(make_server) -> None:
    srv = await make_server(ping_interval=0.3, ping_timeout=5.0)
    jid = await srv.add_user("alice")
    alice = await connect(srv, jid)
    pings = []

    def record(stanza):
        if stanza.xml.find(q(PING, "ping")) is not None and stanza.xml.get("type") == "get":
            pings.append(stanza.xml)
        return stanza

    alice.add_filter("in", record)
    await eventually(lambda: len(pings) >= 2, timeout=5)
    first = pings[0]
    assert first.get("from") == "localhost" and first.get("to") == str(alice.boundjid)
    assert first.get("id")
    session = srv.server.sessions.get(srv.server.sessions.all()[0].jid)
    await eventually(lambda: session not in pinger_of(srv).pending, timeout=1)  # answered, not expired
    rounds = len(pings)
    await eventually(lambda: len(pings) >= rounds + 3, what="three more ping rounds")  # all answered: still here
    assert not session.is_closed and srv.server.sessions.get(session.jid) is session
    assert await alice["xep_0199"].ping(jid="localhost", timeout=5) >= 0


async def test_a_client_that_never_answers_gets_connection_timeout(make_server) -> None:
    srv = await make_server(ping_interval=0.3, ping_timeout=0.4)
    await srv.add_user("bob")
    raw = await raw_login(srv, "bob", resource="mute")
    data = await raw.read_until(PING_IQ_PATTERN, timeout=5)
    ping = PING_IQ.search(data).group(0)
    assert b'from="localhost"' in ping and b'to="bob@localhost/mute"' in ping
    data = await raw.read_to_eof(timeout=5)
    assert stream_error_condition(data) == "connection-timeout"
    assert data.rstrip().endswith(b"</stream:stream>")
    await eventually(lambda: len(srv.server.sessions) == 0, timeout=2)


async def test_an_error_answer_also_proves_the_client_alive(make_server) -> None:
    # A long timeout: the pending ping can only go away because the answer was matched.
    srv = await make_server(ping_interval=0.3, ping_timeout=5.0)
    await srv.add_user("bob")
    raw = await raw_login(srv, "bob", resource="grumpy")
    (session,) = srv.server.sessions.all()
    for _ in range(2):
        data = await raw.read_until(PING_IQ_PATTERN, timeout=5)
        iq_id = re.search(rb'id="([^"]+)"', PING_IQ.search(data).group(0)).group(1).decode()
        raw.take()
        assert session in pinger_of(srv).pending
        raw.send(f"<iq type='error' id='{iq_id}' to='localhost'><ping xmlns='urn:xmpp:ping'/>"
                 "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                 "</error></iq>")
        await eventually(lambda: session not in pinger_of(srv).pending, timeout=1)
    assert not session.is_closed
    assert b"connection-timeout" not in raw.buffer


async def test_other_traffic_after_the_ping_also_proves_the_client_alive(make_server) -> None:
    """§6: some clients ignore pings; anything received since the ping shows the stream works."""
    srv = await make_server(ping_interval=0.3, ping_timeout=0.4)
    await srv.add_user("bob")
    raw = await raw_login(srv, "bob", resource="chatty")
    await raw.read_until(PING_IQ_PATTERN, timeout=5)
    raw.send(" ")  # a whitespace keepalive (RFC 6120 §4.6.1)
    await asyncio.sleep(0.6)  # the thing under test: longer than ping_timeout passes
    (session,) = srv.server.sessions.all()
    assert not session.is_closed
    assert b"connection-timeout" not in raw.buffer


async def test_the_pinger_stops_with_the_server(make_server) -> None:
    srv = await make_server(ping_interval=0.3, ping_timeout=0.4)
    pinger = pinger_of(srv)
    task = pinger.task
    assert task is not None and not task.done()
    await srv.server.hooks.fire_all("server/stopping", srv.server)
    assert task.cancelled() and pinger.task is None


async def test_no_pings_while_the_client_is_active(make_server) -> None:
    srv = await make_server(ping_interval=0.5, ping_timeout=0.5)
    await srv.add_user("bob")
    raw = await raw_login(srv, "bob", resource="busy")
    for _ in range(8):
        raw.send(" ")
        await asyncio.sleep(0.1)  # the thing under test: activity spread over more than ping_interval
    assert not PING_IQ.search(raw.buffer + await _drain(raw))


async def _drain(raw) -> bytes:
    try:
        return await asyncio.wait_for(raw.reader.read(65536), 0.1)
    except asyncio.TimeoutError:
        return b""


async def test_sessions_bound_on_other_cluster_nodes_are_left_to_them(make_server) -> None:
    from xmppd.cluster import RemoteSession
    from xmppcore.jid import JID

    class Bus:
        def __init__(self) -> None:
            self.sent: list[tuple[str, dict]] = []

        def send_to_channel(self, channel: str, message: dict) -> None:
            self.sent.append((channel, message))

    srv = await make_server(ping_interval=0.3, ping_timeout=0.4)
    bus = Bus()
    remote = RemoteSession(bus, JID.parse("carol@localhost/elsewhere"), "node-2", "chan-2")
    srv.server.sessions.add(remote)  # idle "since 0": would be pinged if it were ours
    pinger_of(srv).check(asyncio.get_running_loop().time() + 10_000)
    await asyncio.sleep(0.8)  # the thing under test: a few rounds of the real task pass too
    assert bus.sent == [] and remote not in pinger_of(srv).pending
