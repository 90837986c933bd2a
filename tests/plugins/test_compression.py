"""XEP-0138 Stream Compression on the wire: raw sockets speaking zlib (slixmpp has no
XEP-0138), the feature's offering rules, both failures, a zlib bomb and corrupt data."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from typing import Any

import pytest

from tests.clients import RawClient, connect, header, stream_error_condition
from tests.plugins.wire import raw_login
from tests.plugins.zlibraw import COMPRESS, bind, compress, login
from tests.support.quiet import raw_settle
from tests.support.waiting import wait_for
from tests.transports.conftest import WSClient, make_web  # noqa: F401 (fixture)
from tests.xmppd.test_no_loss import offline_numbers, reset, salvaged  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db(transaction=True)
FEATURE_NS = "http://jabber.org/features/compress"
FEATURE = b"<compression xmlns=\"http://jabber.org/features/compress\"><method>zlib</method></compression>"


async def logged_in(srv: Any, user: str = "alice", *, tls: bool = False) -> tuple[RawClient, bytes]:
    await srv.add_user(user)
    raw = await RawClient.open(srv.host, srv.tls_port if tls else srv.port, tls=tls)
    return raw, await login(raw, user)


async def test_off_by_default_and_refused_without_ending_the_stream(xmpp: Any) -> None:
    raw, features = await logged_in(xmpp)
    assert b"compress" not in features
    answer = await compress(raw)
    assert answer == f"<failure xmlns=\"{COMPRESS}\"><setup-failed/></failure>".encode()
    assert b"<jid>alice@localhost/z</jid>" in await bind(raw)  # §3 note: no stream error


async def test_plain_compresses_both_directions(make_server: Any) -> None:
    srv = await make_server(compression="plain")
    raw, features = await logged_in(srv)
    assert FEATURE in features
    answer = await compress(raw)
    assert answer.startswith(f"<compressed xmlns=\"{COMPRESS}\"/>".encode())
    assert b"<stream:stream" in answer and b"urn:ietf:params:xml:ns:xmpp-bind" in answer
    assert b"compression" not in answer.split(b"<stream:features")[1]  # once per stream
    await bind(raw, "zip")
    await srv.add_user("bob")
    bob = await connect(srv, "bob@localhost")
    got = []
    bob.add_event_handler("message", got.append)

    bob.send_message(mto="alice@localhost/zip", mbody="squeeze " * 200, mtype="chat")
    data = await raw.read_until(rb"</message>")
    assert b"<body>" + b"squeeze " * 199 + b"squeeze </body>" in data
    assert b"squeeze" not in raw.reader.wire and len(raw.reader.wire) < 600  # it was deflated
    raw.take()
    raw.send("<message to='bob@localhost' type='chat' id='z1'><body>from a zlib stream</body></message>")
    await wait_for(lambda: got)
    assert got[0]["body"] == "from a zlib stream" and str(got[0]["from"]) == "alice@localhost/zip"


async def test_unsupported_method_then_zlib(make_server: Any) -> None:
    srv = await make_server(compression="plain")
    raw, _ = await logged_in(srv)
    answer = await compress(raw, "lzw")
    assert answer == f"<failure xmlns=\"{COMPRESS}\"><unsupported-method/></failure>".encode()
    assert (await compress(raw)).startswith(b"<compressed")
    assert b"<jid>alice@localhost/z</jid>" in await bind(raw)


async def test_not_before_authentication(make_server: Any) -> None:
    srv = await make_server(compression="plain")
    raw = await RawClient.open(srv.host, srv.port)
    raw.send(header())
    features = await raw.read_until(rb"</stream:features>")
    assert b"compress" not in features  # XEP-0170: after SASL
    raw.take()
    assert (await compress(raw)).endswith(b"<setup-failed/></failure>")


async def test_not_after_binding(make_server: Any) -> None:
    srv = await make_server(compression="plain")
    raw, _ = await logged_in(srv)
    await bind(raw)
    assert (await compress(raw)).endswith(b"<setup-failed/></failure>")
    await raw_settle(raw)  # the stream goes on uncompressed


@pytest.mark.parametrize("mode,offered", [("plain", False), ("always", True)])
async def test_under_tls_only_when_always(make_server: Any, mode: str, offered: bool) -> None:
    srv = await make_server(compression=mode)
    raw, features = await logged_in(srv, tls=True)
    assert (FEATURE in features) is offered
    answer = await compress(raw)
    if not offered:
        assert answer.endswith(b"<setup-failed/></failure>")
        return
    assert answer.startswith(b"<compressed")
    assert b"<jid>alice@localhost/z</jid>" in await bind(raw)
    await raw_settle(raw)


async def test_zlib_bomb_is_a_policy_violation(make_server: Any) -> None:
    srv = await make_server(compression="plain", compression_max_inflate=64 * 1024)
    raw, _ = await logged_in(srv)
    await compress(raw)
    await bind(raw)
    # 32 MiB of whitespace inside a body: about 32 KiB on the wire.
    raw.send(b"<message to='alice@localhost'><body>" + b" " * (32 << 20) + b"</body></message>")
    data = await raw.read_to_eof()
    assert stream_error_condition(data) == "policy-violation", data[-300:]
    assert b"inflates beyond the limit" in data  # the codec's bound, before the parser's
    assert data.endswith(b"</stream:stream>")


async def test_corrupt_compressed_data_is_processing_failed(make_server: Any) -> None:
    srv = await make_server(compression="plain")
    raw, _ = await logged_in(srv)
    await compress(raw)
    await bind(raw)
    raw.writer.write_raw(b"\xff" * 64)  # not a deflate block
    data = await raw.read_to_eof()
    assert stream_error_condition(data) == "undefined-condition"
    assert f"<failure xmlns=\"{COMPRESS}\"><processing-failed/></failure>".encode() in data


def test_settings_reject_an_unknown_mode() -> None:
    from plugins.compression import load
    from xmppd.server import Config, Server

    with pytest.raises(ValueError, match="XMPP_COMPRESSION"):
        load(Server(Config(compression="sometimes")))


async def test_never_on_websocket(make_web: Any) -> None:
    """RFC 7395 streams compress with permessage-deflate, not XEP-0138: not offered, refused."""
    web = await make_web(compression="always")
    await web.xmpp.add_user("alice")
    ws = await WSClient.open(web.ws_url)
    await ws.open_stream()
    token = base64.b64encode(b"\0alice\0secret").decode()
    await ws.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
    await ws.recv_el()
    _, features = await ws.open_stream()
    assert features.find(f"{{{FEATURE_NS}}}compression") is None
    assert features.find("{urn:ietf:params:xml:ns:xmpp-bind}bind") is not None
    await ws.send(f"<compress xmlns='{COMPRESS}'><method>zlib</method></compress>")
    failure = await ws.recv_el()
    assert failure.tag == f"{{{COMPRESS}}}failure" and failure[0].tag == f"{{{COMPRESS}}}setup-failed"


async def test_unsent_compressed_output_is_salvaged(make_server: Any, salvaged: list[int]) -> None:
    """A compressed stream that dies with output unsent: what never left the server is routed
    again (offline here), counted in stanzas however well the batch compressed."""
    srv = await make_server(compression="plain")
    await srv.add_user("alice")
    await srv.add_user("bob")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (srv.host, srv.port))
    bob = RawClient(*await asyncio.open_connection(sock=sock))
    await login(bob, "bob")
    await compress(bob)
    await bind(bob, "r")
    conn = next(c for c in srv.runner.listeners[0].connections
                if c.transport.get_extra_info("peername") == sock.getsockname())
    conn.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    alice = await raw_login(srv, "alice", resource="a")
    for start in range(0, 30, 5):  # bodies of random hex: they compress about 2:1
        for n in range(start, start + 5):
            alice.send(f"<message to='bob@localhost/r' type='chat'><body>#{n}# {os.urandom(4000).hex()}</body></message>")
        await raw_settle(alice)
    assert conn.transport.get_write_buffer_size() > 0
    bob.writer = bob.writer.writer
    reset(bob)
    [unsent] = await wait_for(lambda: salvaged, what="the unsent output salvaged")
    assert 0 < unsent <= 30, unsent
    assert await offline_numbers(srv, "bob", unsent) == list(range(30 - unsent, 30))
