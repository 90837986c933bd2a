"""Login, binding and routing with a real client (slixmpp) over real sockets."""

from __future__ import annotations

import asyncio
import base64
import re

import pytest
from slixmpp.exceptions import IqError

from xmppcore.jid import JID
from tests.clients import RawClient, connect, header, raw_plain_login, stream_error_condition
from tests.support.quiet import settle
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


async def test_plain_login_without_tls_when_allowed(xmpp) -> None:
    jid = await xmpp.add_user("alice")
    client = await connect(xmpp, jid)
    assert str(client.boundjid.bare) == "alice@localhost"
    assert client.boundjid.resource


async def test_tls_is_required_by_default(make_server) -> None:
    srv = await make_server(require_tls=True)
    raw = await RawClient.open(srv.host, srv.port)
    raw.send(header())
    features = await raw.read_until(rb"</stream:features>")
    assert re.search(rb"<starttls xmlns=\"urn:ietf:params:xml:ns:xmpp-tls\"><required/></starttls>", features)
    assert b"<mechanisms" not in features  # no SASL before TLS when TLS is required
    raw.take()
    token = base64.b64encode(b"\0alice\0secret").decode()
    raw.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
    data = await raw.read_until(rb"</failure>")
    assert b"<encryption-required/>" in data


async def test_starttls_then_scram_login_with_slixmpp(make_server) -> None:
    srv = await make_server(require_tls=True)
    jid = await srv.add_user("alice")
    client = await connect(srv, jid, tls=True)
    assert client.is_secure if hasattr(client, "is_secure") else True
    assert str(client.boundjid.bare) == jid


async def test_starttls_features_after_upgrade_offer_scram_plus(make_server) -> None:
    srv = await make_server(require_tls=True)
    raw = await RawClient.open(srv.host, srv.port)
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    raw.take()
    raw.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    await raw.read_until(rb"<proceed[^>]*/>")
    raw.take()
    await raw.starttls()
    raw.send(header())
    features = await raw.read_until(rb"</stream:features>")
    mechs = re.findall(rb"<mechanism>([^<]+)</mechanism>", features)
    assert b"SCRAM-SHA-256" in mechs and b"SCRAM-SHA-1" in mechs and b"PLAIN" in mechs
    assert b"SCRAM-SHA-256-PLUS" in mechs
    assert b"<starttls" not in features


async def test_direct_tls_port(make_server) -> None:
    srv = await make_server(require_tls=True)
    raw = await RawClient.open(srv.host, srv.tls_port, tls=True)
    raw.send(header())
    features = await raw.read_until(rb"</stream:features>")
    assert b"SCRAM-SHA-1" in features and b"<starttls" not in features


async def test_wrong_password_fails_then_right_password_works(xmpp) -> None:
    await xmpp.add_user("alice", "right")
    raw = await RawClient.open(xmpp.host, xmpp.port)
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    for _ in range(3):
        raw.take()
        token = base64.b64encode(b"\0alice\0wrong").decode()
        raw.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
        data = await raw.read_until(rb"</failure>")
        assert b"<not-authorized/>" in data
    raw.take()
    token = base64.b64encode(b"\0alice\0right").decode()
    raw.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
    assert b"<success" in await raw.read_until(rb"<success")


async def test_unknown_mechanism(xmpp) -> None:
    raw = await RawClient.open(xmpp.host, xmpp.port)
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    raw.take()
    raw.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-NOPE'/>")
    assert b"<invalid-mechanism/>" in await raw.read_until(rb"</failure>")


async def test_message_between_two_clients_is_stamped(xmpp) -> None:
    a = await connect(xmpp, await xmpp.add_user("alice"), resource="phone")
    b = await connect(xmpp, await xmpp.add_user("bob"), resource="pc")
    await settle(a, b)  # both initial presences processed
    a.send_message(mto="bob@localhost", mbody="hello bob", mtype="chat")
    msg = await b.next_message()
    assert msg["body"] == "hello bob"
    assert str(msg["from"]) == "alice@localhost/phone"  # RFC 6120 §8.1.2.1: stamped by the server
    assert msg.xml.get("to") == "bob@localhost"


async def test_message_to_unknown_user_bounces_service_unavailable(xmpp) -> None:
    a = await connect(xmpp, await xmpp.add_user("alice"))
    a.send_message(mto="nobody@localhost", mbody="anyone?", mtype="chat")
    err = await a.next_message()
    assert err["type"] == "error"
    assert err["error"]["condition"] == "service-unavailable"
    assert str(err["from"]) == "nobody@localhost"


async def test_message_with_malformed_to_is_jid_malformed(xmpp) -> None:
    await xmpp.add_user("alice")
    r = await RawClient.open(xmpp.host, xmpp.port)
    await raw_plain_login(r, "alice")
    r.send("<message to='a@b@c' id='m1'><body>x</body></message>")
    data = await r.read_until(rb"</message>")
    assert b"type=\"error\"" in data and b"<jid-malformed xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/>" in data


async def test_iq_to_unavailable_resource_is_service_unavailable(xmpp) -> None:
    a = await connect(xmpp, await xmpp.add_user("alice"))
    await xmpp.add_user("bob")
    iq = a.make_iq_get(queryxmlns="jabber:iq:version", ito="bob@localhost/gone")
    with pytest.raises(IqError) as info:
        await iq.send(timeout=5)
    assert info.value.iq["error"]["condition"] == "service-unavailable"


async def test_conflicting_resource_new_session_wins(xmpp) -> None:
    jid = await xmpp.add_user("alice")
    first = await connect(xmpp, jid, resource="same")
    disconnected = asyncio.get_running_loop().create_future()
    errors: list[str] = []
    first.add_event_handler("stream_error", lambda e: errors.append(e["condition"]))
    first.add_event_handler("disconnected", lambda _: disconnected.done() or disconnected.set_result(True))
    second = await connect(xmpp, jid, resource="same")
    await asyncio.wait_for(disconnected, 5)
    assert errors == ["conflict"]
    assert str(second.boundjid) == "alice@localhost/same"
    assert len(xmpp.server.sessions.resources(JID.parse(jid))) == 1


async def test_server_generates_a_resource(xmpp) -> None:
    await xmpp.add_user("alice")
    raw = await RawClient.open(xmpp.host, xmpp.port)
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    raw.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
             + base64.b64encode(b"\0alice\0secret").decode() + "</auth>")
    await raw.read_until(rb"<success")
    raw.take()
    raw.send(header())
    features = await raw.read_until(rb"</stream:features>")
    assert b"<bind xmlns=\"urn:ietf:params:xml:ns:xmpp-bind\"/>" in features
    assert b"<optional/>" in features  # RFC 6121 session establishment is optional
    raw.take()
    raw.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
    data = await raw.read_until(rb"</iq>")
    m = re.search(rb"<jid>alice@localhost/([^<]+)</jid>", data)
    assert m and len(m.group(1)) >= 8
    raw.take()
    raw.send("<iq type='set' id='s'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
    data = await raw.read_until(rb"<iq[^>]*/>|</iq>")
    assert b"type=\"result\"" in data and b"id=\"s\"" in data


async def test_stream_error_condition_helper_matches_real_output() -> None:
    sample = (b"<stream:error xmlns:stream=\"http://etherx.jabber.org/streams\">"
              b"<conflict xmlns=\"urn:ietf:params:xml:ns:xmpp-streams\"/></stream:error>")
    assert stream_error_condition(sample) == "conflict"


async def test_a_client_that_never_reads_is_dropped_and_messages_go_offline(make_server, monkeypatch) -> None:
    import socket

    from xmppd.transports import tcp

    monkeypatch.setattr(tcp, "MAX_WRITE_BUFFER", 64 * 1024)
    # What bob never read is stored offline (hundreds of alice's messages): no per-sender cap
    # here, it would answer "after the drop" with an error instead (tests/offline/test_per_sender.py).
    xmpp = await make_server(rate_limit_bytes=0, offline_per_sender=0)
    await xmpp.add_user("bob")
    reader = await RawClient.open(xmpp.host, xmpp.port)
    reader.writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await raw_plain_login(reader, "bob")
    reader.send("<presence/>")
    # bob stops reading; alice floods him until the server gives up on his connection
    alice = await connect(xmpp, await xmpp.add_user("alice"))
    body = "x" * 4000
    bob = JID.parse("bob@localhost/r")
    for i in range(4000):
        alice.send_message(mto="bob@localhost", mbody=f"{i} {body}", mtype="chat")
        if i % 50 == 0:
            await asyncio.sleep(0.01)  # pacing: let the server write to bob between bursts
            if xmpp.server.sessions.get(bob) is None:
                break
    # dropped, not buffered without bound
    await wait_for(lambda: xmpp.server.sessions.get(bob) is None, what="bob's stalled session dropped")
    alice.send_message(mto="bob@localhost", mbody="after the drop", mtype="chat")
    from offline.actions import get_messages
    from xmppd.storage import db

    async def stored_after_the_drop() -> bool:
        stored = await db(get_messages, "bob", "localhost", 0, 10_000)
        return any("after the drop" in xml for _, xml in stored)

    await wait_for(stored_after_the_drop, what="the message after the drop stored offline")


@pytest.mark.parametrize("mechanism,max_tls,binding", [
    ("SCRAM-SHA-1-PLUS", "TLSv1_2", "tls-unique"),
    ("SCRAM-SHA-256-PLUS", "TLSv1_2", "tls-server-end-point"),
])
async def test_scram_plus_over_starttls_on_the_wire(make_server, mechanism: str, max_tls: str, binding: str) -> None:
    """A -PLUS login bound to the TLS channel the client really sees (RFC 5802 §6, RFC 5929)."""
    import hashlib
    import ssl

    from scramp import ScramClient

    srv = await make_server(require_tls=True)
    await srv.add_user("alice", "secret")
    raw = await RawClient.open(srv.host, srv.port)
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    raw.take()
    raw.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    await raw.read_until(rb"<proceed[^>]*/>")
    raw.take()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = getattr(ssl.TLSVersion, max_tls)
    await raw.writer.start_tls(ctx)
    sslobj = raw.writer.get_extra_info("ssl_object")
    if binding == "tls-unique":
        data = sslobj.get_channel_binding("tls-unique")
    else:
        # RFC 5929 §4.1: the server certificate's hash (ours is signed with SHA-256)
        data = hashlib.sha256(sslobj.getpeercert(binary_form=True)).digest()
    raw.send(header())
    features = await raw.read_until(rb"</stream:features>")
    assert mechanism.encode() in features and f"type=\"{binding}\"".encode() in features  # XEP-0440
    raw.take()
    client = ScramClient([mechanism], "alice", "secret", channel_binding=(binding, data))
    first = client.get_client_first()
    raw.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{mechanism}'>"
             + base64.b64encode(first.encode()).decode() + "</auth>")
    challenge = re.search(rb"<challenge[^>]*>([^<]+)</challenge>", await raw.read_until(rb"</challenge>")).group(1)
    client.set_server_first(base64.b64decode(challenge).decode())
    raw.take()
    raw.send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
             + base64.b64encode(client.get_client_final().encode()).decode() + "</response>")
    success = re.search(rb"<success[^>]*>([^<]+)</success>", await raw.read_until(rb"</success>")).group(1)
    client.set_server_final(base64.b64decode(success).decode())  # raises if the server's proof is wrong
