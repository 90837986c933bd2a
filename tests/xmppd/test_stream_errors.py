"""RFC 6120 §4.9 stream errors on the wire: each one is the error element, then
</stream:stream>, then the server closes the TCP connection."""

from __future__ import annotations

import asyncio
import base64

import pytest

from tests.clients import RawClient, header, open_stream, stream_error_condition

pytestmark = pytest.mark.django_db(transaction=True)


async def expect_stream_error(raw: RawClient, condition: str) -> bytes:
    data = await raw.read_to_eof(timeout=5)
    assert stream_error_condition(data) == condition, data
    assert data.rstrip().endswith(b"</stream:stream>"), data
    return data




async def logged_in(srv, user: str = "alice") -> RawClient:
    await srv.add_user(user, "secret")
    raw = await open_stream(srv)
    token = base64.b64encode(f"\0{user}\0secret".encode()).decode()
    raw.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
    await raw.read_until(rb"<success")
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    raw.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>")
    await raw.read_until(rb"</iq>")
    raw.take()
    return raw


@pytest.mark.parametrize("head,condition", [
    (header(to="unknown.example"), "host-unknown"),
    (header(xmlns="jabber:server"), "invalid-namespace"),
    (header(version="2.0"), "unsupported-version"),
    ("<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' "
     "xmlns:stream='urn:not-streams'>", "invalid-namespace"),
    ("<!DOCTYPE foo [<!ENTITY x 'y'>]>" + header(), "restricted-xml"),
    ("<not xml at all>>", "not-well-formed"),
])
async def test_bad_stream_headers(xmpp, head: str, condition: str) -> None:
    raw = await RawClient.open(xmpp.host, xmpp.port)
    raw.send(head)
    data = await expect_stream_error(raw, condition)
    # §4.9.1.2: the server opens its own stream before the error.
    assert data.startswith(b"<?xml version='1.0'?><stream:stream"), data


@pytest.mark.parametrize("payload,condition", [
    ("<message to='bob@localhost'><body>hi</body></message>", "not-authorized"),
    ("<message><!-- a comment --></message>", "restricted-xml"),
    ("<?foo bar?>", "restricted-xml"),
    ("<message><body>&ent;</body></message>", "restricted-xml"),
    ("<message></massage>", "not-well-formed"),
])
async def test_errors_before_auth(xmpp, payload: str, condition: str) -> None:
    raw = await open_stream(xmpp)
    raw.send(payload)
    await expect_stream_error(raw, condition)


async def test_invalid_utf8_is_not_well_formed(xmpp) -> None:
    raw = await open_stream(xmpp)
    raw.send(b"<message><body>\xc3\x28\xff</body></message>")
    await expect_stream_error(raw, "not-well-formed")


async def test_oversized_stanza_is_policy_violation(make_server) -> None:
    srv = await make_server(max_stanza_size=10_000)
    raw = await logged_in(srv)
    raw.send("<message to='alice@localhost'><body>" + "x" * 20_000 + "</body></message>")
    await expect_stream_error(raw, "policy-violation")


async def test_too_deep_nesting_is_policy_violation(xmpp) -> None:
    raw = await logged_in(xmpp)
    raw.send("<message>" + "<a>" * 200)
    await expect_stream_error(raw, "policy-violation")


async def test_unknown_top_level_element(xmpp) -> None:
    raw = await logged_in(xmpp)
    raw.send("<foo xmlns='urn:example:unknown'/>")
    await expect_stream_error(raw, "unsupported-stanza-type")


async def test_stanza_before_bind_is_not_authorized(xmpp) -> None:
    await xmpp.add_user("carol", "secret")
    raw = await open_stream(xmpp)
    token = base64.b64encode(b"\0carol\0secret").decode()
    raw.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
    await raw.read_until(rb"<success")
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    raw.take()
    raw.send("<message to='carol@localhost'><body>x</body></message>")
    await expect_stream_error(raw, "not-authorized")


async def test_spoofed_from_is_invalid_from(xmpp) -> None:
    raw = await logged_in(xmpp)
    raw.send("<message from='mallory@localhost/x' to='alice@localhost'><body>x</body></message>")
    await expect_stream_error(raw, "invalid-from")


async def test_closing_handshake(xmpp) -> None:
    raw = await logged_in(xmpp)
    raw.send("</stream:stream>")
    data = await raw.read_to_eof()
    assert data.strip() == b"</stream:stream>"


async def test_whitespace_keepalive_is_ignored(xmpp) -> None:
    raw = await logged_in(xmpp)
    raw.send("   \n  ")
    raw.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
    data = await raw.read_until(rb"</iq>|<iq[^>]*/>")
    assert b"id=\"p1\"" in data and b"type=\"result\"" in data


async def test_connection_limit_is_resource_constraint(make_server) -> None:
    srv = await make_server(max_connections=2)
    first = await RawClient.open(srv.host, srv.port)
    second = await RawClient.open(srv.host, srv.port)
    third = await RawClient.open(srv.host, srv.port)
    await expect_stream_error(third, "resource-constraint")
    first.send(header())
    assert b"</stream:features>" in await first.read_until(rb"</stream:features>")
    second.close()


async def test_silent_connection_is_dropped_with_connection_timeout(make_server) -> None:
    srv = await make_server(login_timeout=0.5)
    raw = await RawClient.open(srv.host, srv.port)
    raw.send(header())
    await expect_stream_error(raw, "connection-timeout")


async def test_login_timer_stops_once_bound(make_server) -> None:
    srv = await make_server(login_timeout=0.5)
    raw = await logged_in(srv)
    await asyncio.sleep(0.8)  # the thing under test: longer than login_timeout must pass
    raw.send("<iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert b"id=\"p2\"" in await raw.read_until(rb"id=\"p2\"")


HOSTILE = [
    ("<message>" + "<a xmlns='urn:x:n'>" * 100, "policy-violation"),
    ("<message><body>" + "<b>" * 40 + "</b>" * 40 + "x" * 70000, "policy-violation"),
    ("<message " + " ".join(f"a{i}='x'" for i in range(5000)) + "/>", None),
    ("<message><body>\x00</body></message>", "not-well-formed"),
    ("<?xml version='1.0'?>", "not-well-formed"),
    ("<message><body><![CDATA[ok]]></body></message></stream:stream><x/>", None),
    ("<!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;'>]><message>&lol2;</message>",
     "restricted-xml"),
    ("<message xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='/etc/passwd'/></message>", None),
    ("<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>", None),
    ("<message to='‮@localhost'><body>x</body></message>", None),
    ("<iq type='get' id='a' to='" + "a" * 2000 + "@localhost'><ping xmlns='urn:xmpp:ping'/></iq>", None),
]


@pytest.mark.parametrize("payload,condition", HOSTILE)
async def test_hostile_input_after_login(make_server, payload: str, condition: str | None) -> None:
    srv = await make_server(max_stanza_size=65536, max_depth=50)
    raw = await logged_in(srv)
    raw.send(payload)
    if condition is not None:
        await expect_stream_error(raw, condition)
    else:  # harmless (CDATA; an unresolved XInclude is just an unknown child): the stream goes on or closes cleanly
        try:
            await raw.read_until(rb"</stream:stream>|</message>", timeout=1)
        except (asyncio.TimeoutError, ConnectionError):
            pass
        assert b"Traceback" not in raw.buffer and b"passwd" not in raw.buffer.replace(b"/etc/passwd", b"")
    # the server is still healthy for everybody else
    other = await logged_in(srv, "zed")
    other.send("<iq type='get' id='alive'><ping xmlns='urn:xmpp:ping'/></iq>")
    assert b"alive" in await other.read_until(rb"alive")


async def test_overlong_localpart_is_jid_malformed(xmpp) -> None:
    raw = await logged_in(xmpp)
    raw.send("<iq type='get' id='long' to='" + "a" * 2000 + "@localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
    data = await raw.read_until(rb"</iq>")
    assert b"type=\"error\"" in data and b"<jid-malformed" in data and b"id=\"long\"" in data
