"""Issue 8, parser and limits, on the wire: the stanza size limit holds at every depth
(RFC 6120 §13.12) and restricted XML (§11.1) holds when the input is split over reads."""

from __future__ import annotations

import socket

import pytest

from tests.clients import RawClient, header, stream_error_condition
from tests.clients import open_stream as opened
from tests.xmppd.test_stream_errors import logged_in

pytestmark = pytest.mark.django_db(transaction=True)
LIMIT = 4096


async def trickle(raw: RawClient, data: bytes, step: int) -> None:
    """Write `data` a few bytes at a time, draining between writes (one read each)."""
    raw.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for at in range(0, len(data), step):
        raw.send(data[at:at + step])
        try:
            await raw.writer.drain()
        except ConnectionError:
            return  # the server hung up mid-way: what the test expects


async def expect_error(raw: RawClient, condition: str) -> None:
    data = await raw.read_to_eof(timeout=10)
    assert stream_error_condition(data) == condition, data[-300:]


async def small_server(make_server):
    return await make_server(max_stanza_size=LIMIT)


@pytest.mark.parametrize("opening", [
    b"<message to='bob@localhost' a='",  # an attribute value never closed
    b"<message xmlns:p='",  # a namespace declaration never closed
    b"<messagexxxxxxxx",  # an element name never ended
    b"<message ",  # an attribute list that only grows
])
async def test_unfinished_start_tag_is_bounded_after_auth(make_server, opening: bytes) -> None:
    srv = await small_server(make_server)
    raw = await logged_in(srv)
    filler = b" " if opening.endswith(b" ") else b"x"
    await trickle(raw, opening + filler * (LIMIT * 3), 1024)
    await expect_error(raw, "policy-violation")


async def test_unfinished_start_tag_is_bounded_before_auth(make_server) -> None:
    srv = await small_server(make_server)
    raw = await opened(srv)
    await trickle(raw, b"<auth a='" + b"x" * (LIMIT * 3), 1024)
    await expect_error(raw, "policy-violation")


async def test_stream_level_cdata_is_bounded(make_server) -> None:
    srv = await small_server(make_server)
    raw = await opened(srv)
    await trickle(raw, b"<![CDATA[" + b"x" * (LIMIT * 3), 1024)
    await expect_error(raw, "policy-violation")


async def test_stream_header_has_its_own_limit(make_server) -> None:
    srv = await small_server(make_server)
    raw = await RawClient.open(srv.host, srv.port)
    # 8 KiB of header is refused though the stanza limit here would allow more
    head = header().encode()[:-1] + b" x='" + b"y" * 20000 + b"'>"
    await trickle(raw, head, 1024)
    await expect_error(raw, "policy-violation")


async def test_keepalives_and_stanzas_near_the_limit_pass(make_server) -> None:
    srv = await small_server(make_server)
    raw = await logged_in(srv)
    body = b"x" * (LIMIT - 200)
    ping = b"<iq type='get' id='p%d'><ping xmlns='urn:xmpp:ping'/></iq>"
    for n in range(3):  # split so that each stanza's start shares a read with the last end
        stanza = b"<message to='nobody@localhost'><body>" + body + b"</body></message>"
        await trickle(raw, b" " * 600 + stanza + ping % n, 700)
        await raw.read_until(rb"id=.p%d." % n, timeout=5)


@pytest.mark.parametrize("payload", [b"<!DOCTYPE x>", b"<!-- a comment -->", b"<!ENTITY x 'y'>"])
async def test_dtd_split_over_reads_is_refused(make_server, payload: bytes) -> None:
    srv = await small_server(make_server)
    raw = await logged_in(srv)
    # "<" then "!..." in another read: neither read alone holds "<!"; the rest goes in
    # one write so that nothing lands on the socket the server has closed
    await trickle(raw, b"<", 1)
    await trickle(raw, payload[1:], len(payload))
    await expect_error(raw, "restricted-xml")


async def test_cdata_split_over_reads_is_allowed(make_server) -> None:
    srv = await small_server(make_server)
    raw = await logged_in(srv)
    await trickle(raw, b"<iq type='get' id='c1'><ping xmlns='urn:xmpp:ping'><![CDATA[ hi ]]></ping></iq>", 2)
    await raw.read_until(rb"id=.c1.", timeout=5)


@pytest.mark.parametrize("parts", [
    (b"<", b"!DOCTYPE stream>"),
    (b"<!DOCTYPE stream [<", b"!ENTITY x 'y'>]>"),
])
async def test_dtd_before_the_header_split_over_reads_is_refused(make_server, parts) -> None:
    srv = await small_server(make_server)
    raw = await RawClient.open(srv.host, srv.port)
    await trickle(raw, parts[0], len(parts[0]))
    stream_tag = header().encode().partition(b"?>")[2]  # no XML declaration after a DTD
    await trickle(raw, parts[1] + stream_tag, 4096)
    await expect_error(raw, "restricted-xml")
