"""A small ASGI server for raw XMPP TCP connections (c2s on 5222, direct TLS on 5223).

Each accepted connection runs the ASGI application with a scope of type `xmpp`; the
connection object itself is put in scope["extensions"]["xmpp.transport"] so that the
consumer can write without a round trip through an ASGI queue (the hot path).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import socket
import ssl
import struct
import termios
import time
from collections import deque
from typing import Any, Callable

from xmppcore.errors import StreamError
from xmppd import tls
from xmppd.delivery import salvage
from xmppd.server import get_server

log = logging.getLogger(__name__)
READ_QUEUE_HIGH = 64  # chunks buffered before we stop reading (back-pressure)
# A peer that leaves this much of its own output unread is dead or hostile: drop it rather
# than grow without bound (later stanzas then go to the offline store or bounce).
MAX_WRITE_BUFFER = 8 * 1024 * 1024
_RESOURCE_CONSTRAINT = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"
    b" version='1.0'><stream:error><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
    b"</stream:error></stream:stream>")
# Half-open connections (a peer that vanished without FIN or RST): the kernel probes an idle
# socket after KEEPIDLE seconds, every KEEPINTVL, and gives up after KEEPCNT unanswered probes,
# so a dead peer is noticed in about 15 + 3 * 5 = 30 s; the XMPP ping (XEP-0199) covers the rest.
KEEPALIVE = (("TCP_KEEPIDLE", 15), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3))


def set_keepalive(sock: socket.socket | None) -> None:
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in KEEPALIVE:
        option = getattr(socket, name, None)  # Linux names; other systems keep their defaults
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


_SALVAGING: set[asyncio.Task] = set()


def kernel_unacked(sock: socket.socket | None) -> int:
    """Bytes the kernel holds for the peer, sent or not, that the peer has not acknowledged
    (Linux SIOCOUTQ): they die with the socket on a reset or an abort."""
    request = getattr(termios, "TIOCOUTQ", None)
    if sock is None or request is None:
        return 0
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), request, b"\0\0\0\0"))[0]
    except OSError:
        return 0


class XMPPConnection(asyncio.Protocol):
    """One TCP connection: an asyncio protocol and the driver's `Transport`."""

    def __init__(self, listener: "Listener") -> None:
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.kind = "tls" if listener.direct_tls else "tcp"
        self.is_secure = listener.direct_tls
        self.can_starttls = listener.ssl_context is not None and not listener.direct_tls
        self.channel_bindings: dict[str, bytes] = {}
        self.channel_name: str | None = None
        self.peer = ""
        self._queue: deque[dict] = deque()
        self._waiter: asyncio.Future | None = None
        self._paused = False
        self._closing = False
        self._rate = listener.rate_limit_bytes
        self._tokens = float(self._rate)
        self._last = time.monotonic()
        self._task: asyncio.Task | None = None
        self._out: list[bytes] = []  # written this loop iteration, sent in one syscall
        # Stanzas handed to asyncio but not yet to the kernel; re-routed if the connection dies
        # with them unsent (no silent loss until XEP-0198 acks exist).
        self._unsent: deque[bytes] = deque()
        self._unsent_size = 0
        # False once a module answers for the output itself (XEP-0198 keeps every stanza
        # until the client acknowledges it): salvaging it too would deliver it twice.
        self.salvages = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._paused_writing = False
        self._encode: Callable[[bytes], bytes] | None = None  # XEP-0138: deflates a write batch

    # -- asyncio.Protocol -------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._loop = asyncio.get_running_loop()
        # pause_writing: asyncio holds unsent output; resume_writing: all of it is in the kernel.
        transport.set_write_buffer_limits(high=0)  # type: ignore[attr-defined]
        if self.listener.is_full():
            # RFC 6120 §4.9.3.18: we are out of room for another stream.
            transport.write(_RESOURCE_CONSTRAINT)  # type: ignore[attr-defined]
            transport.close()
            self._closing = True
            return
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if peer else ""
        set_keepalive(transport.get_extra_info("socket"))
        if self.is_secure:
            self._set_bindings()
        self.listener.opened(self)
        scope = {
            "type": "xmpp", "asgi": {"version": "3.0"}, "client": peer, "transport": self.kind,
            "server": transport.get_extra_info("sockname"), "tls": self.is_secure,
            "extensions": {"xmpp.transport": self, "xmpp.server": self.listener.xmpp_server},
        }
        self._task = asyncio.get_running_loop().create_task(self._run(scope))

    async def _run(self, scope: dict) -> None:
        try:
            await self.listener.app(scope, self._receive, self._send)
        except Exception:
            log.exception("xmpp application failed")
        finally:
            self.close()
            self.listener.closed(self)

    def _salvage(self, chunks: list[bytes]) -> None:
        """Output the peer never got goes back to the router at once: this stream refuses
        writes from now on, so a message to its full JID falls back to another resource or
        the offline store (RFC 6121 §8.5.3.2.1) and a request gets an error."""
        if chunks and self.salvages:
            server = self.listener.xmpp_server or get_server()
            task = self._loop.create_task(salvage(server, chunks))
            _SALVAGING.add(task)  # the loop keeps only weak references to tasks
            task.add_done_callback(_SALVAGING.discard)

    def data_received(self, data: bytes) -> None:
        self._push({"type": "xmpp.receive", "bytes": data})
        if self._rate:
            self._throttle(len(data))
        if len(self._queue) > READ_QUEUE_HIGH and not self._paused:
            self._pause()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        unsent, self._unsent = list(self._unsent), deque()
        self._salvage(unsent)
        self._push({"type": "xmpp.disconnect"})

    def pause_writing(self) -> None:  # the peer reads slower than we write; fine, buffered
        self._paused_writing = True

    def resume_writing(self) -> None:
        self._paused_writing = False
        self._unsent.clear()
        self._unsent_size = 0

    def _track_unsent(self, out: list[bytes], buffered: int) -> None:
        """Keep the newest chunks that add up to the `buffered` bytes not yet acknowledged by
        the peer (asyncio's buffer and the kernel's); the oldest may be partly received: the
        client never got it whole. Runs only while the peer reads slower than we write."""
        unsent = self._unsent
        unsent.extend(out)
        self._unsent_size += sum(map(len, out))
        while unsent and self._unsent_size - len(unsent[0]) >= buffered:
            self._unsent_size -= len(unsent.popleft())

    # -- rate limit: a token bucket in bytes per second (DESIGN: "stanza size and rate limits")
    def _throttle(self, n: int) -> None:
        now = time.monotonic()
        self._tokens = min(float(self._rate), self._tokens + (now - self._last) * self._rate)
        self._last = now
        self._tokens -= n
        if self._tokens < 0 and not self._paused:
            self._pause()
            asyncio.get_running_loop().call_later(-self._tokens / self._rate, self._resume)

    def _pause(self) -> None:
        if self.transport is not None and not self._closing:
            self._paused = True
            self.transport.pause_reading()

    def _resume(self) -> None:
        if self._paused and self.transport is not None and not self._closing:
            self._paused = False
            self.transport.resume_reading()

    # -- ASGI side ----------------------------------------------------------------
    def _push(self, message: dict) -> None:
        self._queue.append(message)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _receive(self) -> dict:
        while not self._queue:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
            self._waiter = None
        message = self._queue.popleft()
        if self._paused and len(self._queue) < READ_QUEUE_HIGH // 2 and self._tokens >= 0:
            self._resume()
        return message

    async def _send(self, message: dict) -> None:
        kind = message["type"]
        if kind == "xmpp.send":
            self.write(message["bytes"])
        elif kind == "xmpp.close":
            self.close()

    # -- the driver's Transport -------------------------------------------------------
    def write(self, data: bytes) -> bool:
        transport = self.transport
        if self._closing or transport is None or transport.is_closing():
            return False
        out = self._out
        out.append(data)
        if len(out) == 1:  # the first write of this iteration schedules one flush for all
            self._loop.call_soon(self._flush)
        return True

    def _flush(self) -> None:
        out = self._out
        if not out:
            return
        self._out = []
        transport = self.transport
        if transport is None or transport.is_closing():
            self._salvage(out)  # the peer went away after write() said yes
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        wire = data if self._encode is None else self._encode(data)
        transport.write(wire)
        if transport.is_closing():  # the send failed (reset, broken pipe): nothing went out
            self._salvage(out)
            return
        if not self._paused_writing:
            return  # all of it is in the kernel
        buffered = transport.get_write_buffer_size()
        unacked = buffered + kernel_unacked(transport.get_extra_info("socket"))
        if wire is not data:  # XEP-0138: counted in stanza bytes, at this batch's ratio
            unacked = unacked * len(data) // max(1, len(wire))
        self._track_unsent(out, unacked)
        if buffered > MAX_WRITE_BUFFER:
            # connection_lost re-routes what is still unsent (offline store or an error).
            log.warning("dropping %s: %d bytes unread", self.peer, buffered)
            self._closing = True
            transport.abort()

    async def start_tls(self) -> None:
        loop = asyncio.get_running_loop()
        assert self.transport is not None and self.listener.ssl_context is not None
        if any(message["type"] == "xmpp.receive" for message in self._queue):
            # RFC 6120 §5.4.3.3: bytes read after <starttls/> and before the handshake came
            # in the clear; they must never be read as if they were inside TLS.
            raise StreamError("policy-violation", "data sent after <starttls/>")
        self._flush()  # <proceed/> goes out in the clear, before the handshake
        self.transport = await loop.start_tls(self.transport, self, self.listener.ssl_context,
                                              server_side=True, ssl_handshake_timeout=30)
        self.is_secure = True
        self.kind = "tcp+tls"
        self.transport.set_write_buffer_limits(high=0)
        self._set_bindings()

    def start_compression(self, encode: Callable[[bytes], bytes]) -> None:
        """XEP-0138 §6: what is written so far (<compressed/>) goes out as is, every later
        write batch through `encode` (one zlib sync flush per batch)."""
        self._flush()
        self._encode = encode

    def _set_bindings(self) -> None:
        ssl_object = self.transport.get_extra_info("ssl_object") if self.transport else None
        if ssl_object is not None:
            self.channel_bindings = tls.channel_bindings(ssl_object, self.listener.cert_der)

    def close(self) -> None:
        self._flush()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self._closing = True


class Listener:
    """One listening socket (c2s with STARTTLS, or direct TLS per XEP-0368)."""

    def __init__(self, app: Callable[..., Any], ssl_context: ssl.SSLContext | None,
                 cert_der: bytes = b"", direct_tls: bool = False, rate_limit_bytes: int = 0,
                 server: Any = None) -> None:
        self.app = app
        self.xmpp_server = server  # None: the process's server (xmppd.server.get_server)
        self.max_connections = server.config.max_connections if server is not None else 0
        self.ssl_context = ssl_context
        self.cert_der = cert_der
        self.direct_tls = direct_tls
        self.rate_limit_bytes = rate_limit_bytes
        self.connections: set[XMPPConnection] = set()
        self.server: asyncio.AbstractServer | None = None

    def is_full(self) -> bool:
        """XMPP_MAX_CONNECTIONS counts the streams of every listener and WebSocket together."""
        if self.xmpp_server is not None:
            return self.xmpp_server.streams.is_full()
        return bool(self.max_connections) and len(self.connections) >= self.max_connections

    def opened(self, conn: XMPPConnection) -> None:
        self.connections.add(conn)
        if self.xmpp_server is not None:
            self.xmpp_server.streams.count += 1

    def closed(self, conn: XMPPConnection) -> None:
        if conn in self.connections:
            self.connections.discard(conn)
            if self.xmpp_server is not None:
                self.xmpp_server.streams.count -= 1

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: XMPPConnection(self), host, port, backlog=4096,
            ssl=self.ssl_context if self.direct_tls else None, reuse_address=True,
        )
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for conn in list(self.connections):
            conn.close()

