"""Issue 8 under Daphne for real (`manage.py xmppd`): memory per WebSocket connection is bounded
(xmppd/transports/daphne.py) and XMPP_ADMIN_HTTP_BIND serves /admin/ and /api/ on its own
address only.

- A WebSocket client that writes on while its consumer is busy: Daphne stops reading the
  socket instead of queueing everything (TCP flow control holds the client back).
- A WebSocket client that logs in and never reads, flooded by a TCP user: the server drops it
  once 8 MiB wait for it (as on TCP), its memory stays bounded, and every message of the
  flood is either in what the client's socket got or stored offline.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import socket
import sqlite3
import struct
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.clients import RawClient, header
from tests.support.ports import HOST, accepts, free_ports
from tests.support.process import child_env, migrate_with_users, start_xmppd
from tests.support.waiting import wait_for, wait_for_sync
from tests.transports.conftest import WSClient
from tests.transports.conftest_bosh import http

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
FLOOD = 700  # messages of PADDING bytes: about 42 MiB, several times the 8 MiB cap
PADDING = 60_000
MIB = 1024 * 1024


def _start(tmp_path_factory: pytest.TempPathFactory, name: str, **env: str) -> Any:
    data: Path = tmp_path_factory.mktemp(name)
    environment = child_env(data, drop=("XMPP_*", "DATABASE_URL"), XMPP_LOG_LEVEL="WARNING",
                            XMPP_REQUIRE_TLS="false", **env)
    migrate_with_users(environment, "alice", "bob")
    return data, start_xmppd(environment, data, timeout=60)  # collectstatic on a busy machine


@pytest.fixture(scope="module")
def daphne(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """PLAIN allowed without TLS, no input rate limit (the flood comes from a trusted user),
    room offline for the whole flood, no archive (the server's memory measured here is the
    WebSocket's, not the archive's write buffer), and an admin listener of its own."""
    admin_port = free_ports(1)[0]
    data, xmppd = _start(tmp_path_factory, "daphne-hardening", XMPP_RATE_LIMIT_BYTES="0",
                         XMPP_OFFLINE_QUOTA="5000", XMPP_OFFLINE_PER_SENDER="5000",
                         XMPP_MAM_DEFAULT="never", XMPP_ADMIN_HTTP_BIND=f"{HOST}:{admin_port}")
    try:
        wait_for_sync(lambda: accepts(admin_port), 10, what="the admin listener")
        yield dict(xmppd.ports, admin=admin_port, pid=xmppd.proc.pid, db=str(data / "db.sqlite3"))
    finally:
        xmppd.stop(timeout=10)


# -- XMPP_ADMIN_HTTP_BIND --------------------------------------------------------------------

def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


async def test_admin_and_api_answer_only_on_the_admin_bind(daphne: dict[str, Any]) -> None:
    public, admin = (f"http://{HOST}:{daphne[name]}" for name in ("http", "admin"))

    def statuses(base: str) -> list[int]:
        return [_status(base + path) for path in ("/admin/login/", "/api/users", "/api/openapi.json")]

    assert await asyncio.to_thread(statuses, admin) == [200, 401, 200]  # the API asks for its token
    assert await asyncio.to_thread(statuses, public) == [404, 404, 404]
    secure = await http(HOST, daphne["https"], "GET", "/admin/login/", tls=True)
    assert secure.status == 404, secure.body  # nor on the public HTTPS port
    # The public port still serves BOSH and WebSocket.
    assert (await http(HOST, daphne["http"], "GET", "/http-bind")).body.startswith(b"XMPP over BOSH")
    ws = await WSClient.open(f"ws://{HOST}:{daphne['http']}/xmpp-websocket")
    opened, features = await ws.open_stream()
    assert opened.tag == f"{{{FRAMING}}}open" and features.find(f"{{{SASL}}}mechanisms") is not None
    await ws.close()


# -- a WebSocket client by hand, so that it can stop reading ----------------------------------

class RawWebSocket:
    """RFC 6455 over a socket with a small receive buffer: text frames out (masked), frames in."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> "RawWebSocket":
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (HOST, port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=16384)
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        writer.write((f"GET /xmpp-websocket HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                      "Sec-WebSocket-Protocol: xmpp\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    def send(self, text: str) -> None:
        # A zero masking key (RFC 6455 §5.3 wants it random; no server can tell): the payload
        # goes as it is, so this client can write as fast as the socket takes it.
        payload = text.encode()
        size = len(payload)
        length = bytes([0x80 | size]) if size < 126 else (
            b"\xfe" + struct.pack("!H", size) if size < 65536 else b"\xff" + struct.pack("!Q", size))
        self.writer.write(b"\x81" + length + b"\0\0\0\0" + payload)

    async def recv(self, timeout: float = 5.0) -> str:
        async def frame() -> str:
            first, second = await self.reader.readexactly(2)
            size = second & 0x7F
            if size == 126:
                size = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            return (await self.reader.readexactly(size)).decode()
        return await asyncio.wait_for(frame(), timeout)

    async def recv_until(self, pattern: str) -> str:
        while True:
            text = await self.recv()
            if re.search(pattern, text):
                return text

    async def login(self, user: str, resource: str) -> None:
        self.send(f"<open xmlns='{FRAMING}' to='localhost' version='1.0'/>")
        await self.recv_until("stream:features|<features")
        token = base64.b64encode(f"\0{user}\0secret".encode()).decode()
        self.send(f"<auth xmlns='{SASL}' mechanism='PLAIN'>{token}</auth>")
        await self.recv_until("<success")
        self.send(f"<open xmlns='{FRAMING}' to='localhost' version='1.0'/>")
        await self.recv_until("features")
        self.send(f"<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='{BIND}'>"
                  f"<resource>{resource}</resource></bind></iq>")
        await self.recv_until("id=.b.")
        self.send("<presence xmlns='jabber:client'/>")

    async def leftover(self) -> bytes:
        """Whatever reaches this side now that it reads again (until quiet or closed)."""
        got = b""
        while True:
            try:
                chunk = await asyncio.wait_for(self.reader.read(1 << 20), 1.0)
            except (asyncio.TimeoutError, ConnectionError):
                return got
            if not chunk:
                return got
            got += chunk


async def tcp_login(port: int, user: str, resource: str = "tcp") -> RawClient:
    raw = await RawClient.open(HOST, port)
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    raw.send(f"<auth xmlns='{SASL}' mechanism='PLAIN'>" + base64.b64encode(f"\0{user}\0secret".encode()).decode()
             + "</auth>")
    await raw.read_until(rb"<success")
    raw.send(header())
    await raw.read_until(rb"</stream:features>.*</stream:features>")
    raw.send(f"<iq type='set' id='b'><bind xmlns='{BIND}'><resource>{resource}</resource></bind></iq>")
    await raw.read_until(rb"id=.b.")
    raw.take()
    return raw


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def numbers(data: bytes) -> set[int]:
    return {int(n) for n in re.findall(rb"#(\d+)#", data)}


async def test_a_websocket_client_that_never_reads_is_dropped_and_loses_nothing(daphne: dict[str, Any]) -> None:
    bob = await RawWebSocket.open(daphne["http"])
    await bob.login("bob", "ws")
    alice = await tcp_login(daphne["c2s"], "alice")
    before = rss(daphne["pid"])
    pad = "x" * PADDING
    for n in range(FLOOD):
        alice.send(f"<message to='bob@localhost/ws' type='chat'><body>#{n}# {pad}</body></message>")
        if n % 50 == 49:
            alice.send(f"<iq type='get' id='f{n}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
            await alice.read_until(f"id=.f{n}.", timeout=20)
            alice.take()
    grown = rss(daphne["pid"]) - before
    # Dropped: a request to bob's full JID is now answered by the server (RFC 6120 §10.5.3.2).
    alice.send("<iq type='get' id='gone' to='bob@localhost/ws'><ping xmlns='urn:xmpp:ping'/></iq>")
    answer = await alice.read_until(rb"id=.gone.[^>]*>.*?</iq>", timeout=10)
    assert re.search(rb"type=.error.", answer) and b"service-unavailable" in answer, answer[-400:]
    assert grown < 30 * MIB, f"{grown / MIB:.1f} MiB for a {FLOOD * PADDING / MIB:.0f} MiB flood"
    got = numbers(await bob.leftover())
    bob.writer.close()

    def stored() -> set[int]:  # read beside the server: a login would fetch 40 MiB at once
        with sqlite3.connect(daphne["db"]) as db:
            rows = db.execute("SELECT stanza FROM offline_offlinemessage WHERE username = 'bob'").fetchall()
        return numbers("".join(row[0] for row in rows).encode())

    missing = set(range(FLOOD)) - got
    await wait_for(lambda: asyncio.to_thread(lambda: missing <= stored()), timeout=20,
                   what="every message of the flood read by bob or stored offline")
    assert len(got) < FLOOD // 2  # most of the flood really went offline
    alice.writer.close()


@pytest.fixture(scope="module")
def slow_daphne(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """XMPP_RATE_LIMIT_BYTES of 64 KiB/s: a WebSocket consumer waits out every burst."""
    _, xmppd = _start(tmp_path_factory, "daphne-slow", XMPP_RATE_LIMIT_BYTES=str(64 * 1024))
    try:
        yield dict(xmppd.ports, pid=xmppd.proc.pid)
    finally:
        xmppd.stop(timeout=10)


async def test_a_busy_consumer_makes_daphne_stop_reading(slow_daphne: dict[str, Any]) -> None:
    """The consumer sleeps off the client's debt (the rate limit) while the client writes on:
    Daphne stops reading the socket (TCP flow control holds the client back) instead of
    queueing everything it sends; the flood then ends the stream (policy-violation)."""
    client = await RawWebSocket.open(slow_daphne["http"])
    client.send(f"<open xmlns='{FRAMING}' to='localhost' version='1.0'/>")
    await client.recv_until("features")
    before = rss(slow_daphne["pid"])
    # Past the bucket at once (64 KiB/s, at most 2 s' worth owed): the consumer sleeps ~0.9 s.
    client.send("<presence xmlns='jabber:client'><status>" + "s" * 120_000 + "</status></presence>")
    frame = "<presence xmlns='jabber:client'><status>" + "s" * 60_000 + "</status></presence>"
    sent = 0

    async def flood() -> None:
        nonlocal sent
        while True:
            client.send(frame)
            sent += len(frame)
            await client.writer.drain()

    try:
        await asyncio.wait_for(flood(), 3)
    except (asyncio.TimeoutError, ConnectionError):
        pass
    grown = rss(slow_daphne["pid"]) - before
    client.writer.transport.abort()
    # Unpaused, Daphne queued ~40 MiB here; paused, what the socket buffers hold stays in the kernel.
    assert grown < 16 * MIB, f"{grown / MIB:.1f} MiB queued for one connection ({sent / MIB:.0f} MiB sent)"
