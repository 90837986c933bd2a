"""XMPP over WebSocket (RFC 7395): the Channels consumer served at /xmpp-websocket.

Daphne (or any ASGI server) does the WebSocket; this consumer insists on the `xmpp`
subprotocol (§3.1), turns each text message into stream input with
`xmppcore.framing.WebSocketFraming` and feeds the c2s driver every transport shares, so
a session on a WebSocket is the same `Session` as one on TCP. Output goes the other way:
the driver writes exactly one top-level element per call, and each write is one text
message (§3.3.3).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any, Awaitable, Callable, Generator

from channels.layers import get_channel_layer
from channels.security.websocket import OriginValidator
from django.conf import settings

from xmppcore.errors import StreamError
from xmppcore.framing import CLOSE, SUBPROTOCOL, WebSocketFraming
from xmppd import layer
from xmppd.c2s import C2SDriver
from xmppd.consumers import XMPPStreamConsumer
from xmppd.server import get_server
from xmppd.transports.daphne import DaphneFlow
from xmppd.transports.rate import Bucket
from xmppd.transports.tcp import MAX_WRITE_BUFFER

log = logging.getLogger(__name__)
Send = Callable[[dict], Awaitable[None]]


def load(server: Any) -> Any:
    """Metadata for `xep_report`; and, once per process, lazy debug logging in autobahn."""
    _lazy_autobahn_debug_arguments()
    return server.module("websocket", xep="RFC 7395", title="XMPP Subprotocol for WebSocket",
                         version="RFC 7395", status="complete",
                         notes="/xmpp-websocket on the HTTP and HTTPS ports")


class _Lazy:
    """`fn(*args)`, computed only if a log line is actually formatted."""

    __slots__ = ("fn", "args")

    def __init__(self, fn: Callable[..., Any], args: tuple) -> None:
        self.fn = fn
        self.args = args

    def __str__(self) -> str:
        return str(self.fn(*self.args))

    __repr__ = __str__

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _lazy(fn: Callable[..., Any]) -> Callable[..., _Lazy]:
    def deferred(*args: Any) -> _Lazy:
        return _Lazy(fn, args)
    deferred.is_lazy = True  # type: ignore[attr-defined]
    return deferred


def _lazy_autobahn_debug_arguments() -> None:
    """Daphne's WebSocket protocol (autobahn) builds the arguments of its debug log lines
    even when debug logging is off: a pformat of 29 options on every connection (~0.2 ms)
    and highlighted type names on every frame read or written (~6 µs, a fifth of what a
    routed chat message costs). Make those helpers lazy in the modules that call them; the
    lines read the same when debug logging is on."""
    import importlib

    for name in ("autobahn.websocket.protocol", "autobahn.twisted.websocket"):
        module = importlib.import_module(name)
        for helper in ("pformat", "hl", "hltype", "hlval"):
            fn = getattr(module, helper, None)
            if fn is not None and not getattr(fn, "is_lazy", False):
                setattr(module, helper, _lazy(fn))


class _Resume:
    """Awaiting this finishes a coroutine that was already stepped once and yielded
    `pending`, exactly as a Task would have. It lets `WebSocketTransport.write` run the
    ASGI `send` synchronously (Daphne's never waits) and still be correct with a server
    whose `send` does wait."""

    __slots__ = ("coro", "pending")

    def __init__(self, coro: Any, pending: Any) -> None:
        self.coro = coro
        self.pending = pending

    def __await__(self) -> Generator[Any, Any, None]:
        coro, pending = self.coro, self.pending
        while True:
            try:
                value = yield pending
            except BaseException as exc:  # cancellation reaches the inner coroutine too
                try:
                    pending = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    pending = coro.send(value)
                except StopIteration:
                    return


class WebSocketTransport:
    """The c2s driver's `Transport` over one ASGI WebSocket connection."""

    can_starttls = False  # RFC 7395 §3.8: TLS belongs to the WebSocket (wss://), never STARTTLS

    def __init__(self, send: Send, scope: dict, framing: WebSocketFraming, *, is_secure: bool,
                 server: Any = None, flow: DaphneFlow | None = None) -> None:
        client = scope.get("client")
        self.peer = str(client[0]) if client else ""
        self.is_secure = is_secure
        self.kind = "wss" if is_secure else "ws"
        self.channel_bindings: dict[str, bytes] = {}  # the ASGI scope exposes no TLS object
        self.channel_name: str | None = None
        self.framing = framing
        self.is_closed = False
        self._send = send
        self._backlog: deque[dict] | None = None  # messages queued behind a send that waits
        self._backlog_size = 0
        self.server = server
        self.flow = flow  # Daphne's buffers, seen through (xmppd/transports/daphne.py)

    def write(self, data: bytes) -> bool:
        """One top-level element = one text message (RFC 7395 §3.2, §3.3.3)."""
        if self.is_closed or not self._emit({"type": "websocket.send", "text": data.decode()}):
            return False
        flow = self.flow
        if flow is not None and flow.is_congested and not flow.wrote(data):
            # Over MAX_WRITE_BUFFER unread under Daphne: aborted; what the peer did not get
            # (this stanza included) is routed again, later ones are refused.
            self.is_closed = True
            self.salvage_unsent()
        return True

    def salvage_unsent(self) -> None:
        """Stanzas written but never acknowledged by the peer go back to the router."""
        if self.flow is not None and self.server is not None:
            unsent = self.flow.take_unsent()
            if unsent:
                layer.salvage_soon(self.server, unsent)

    def close(self, code: int = 1000) -> None:
        """Close the WebSocket after everything written so far (§3.6: the server closes)."""
        if self.is_closed:
            return
        self.is_closed = True
        self._emit({"type": "websocket.close", "code": code})

    async def start_tls(self) -> None:  # never called: can_starttls is False
        raise RuntimeError("STARTTLS is not used on WebSocket (RFC 7395 §3.8)")

    # -- ordered, synchronous when the server allows it ----------------------------------
    def _emit(self, message: dict) -> bool:
        if self._backlog is not None:  # an earlier send is still waiting: keep the order
            self._backlog_size += len(message.get("text", ""))
            if self._backlog_size > MAX_WRITE_BUFFER:  # the same cap as TCP (tcp.py)
                self._lost(ConnectionError(f"{self._backlog_size} bytes unread"))
                return False
            self._backlog.append(message)
            return True
        coro = self._send(message)
        try:
            pending = coro.send(None)
        except StopIteration:
            return True  # done at once (Daphne)
        except Exception as exc:
            self._lost(exc)
            return False
        self._backlog = deque()
        asyncio.get_running_loop().create_task(self._drain(_Resume(coro, pending)))
        return True

    async def _drain(self, first: _Resume) -> None:
        try:
            await first
            while self._backlog:
                await self._send(self._backlog.popleft())
        except Exception as exc:
            self._lost(exc)
        finally:
            self._backlog = None
            self._backlog_size = 0

    def _lost(self, exc: Exception) -> None:
        log.debug("websocket send to %s failed: %s", self.peer, exc)
        self.is_closed = True
        if self._backlog:
            self._backlog.clear()  # nothing more goes out: free it now
        self._backlog_size = 0


class XMPPWebSocketConsumer(XMPPStreamConsumer):
    """One RFC 7395 connection. Reads `receive` in a loop (no task per message): the hot path.

    Subclasses the TCP stream consumer for what both share: the channel-layer channel a
    session has when several processes serve the domains (`xmpp.route`, `xmpp.close`).
    """

    transport: WebSocketTransport

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        self.scope = scope
        self.base_send = send
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if SUBPROTOCOL not in scope.get("subprotocols", ()):
            # §3.1: a handshake without the `xmpp` subprotocol is not XMPP: refuse it (HTTP 403).
            await send({"type": "websocket.close", "code": 1002})
            return
        await send({"type": "websocket.accept", "subprotocol": SUBPROTOCOL})
        # A server may hand its node in the scope (several nodes in one process: tests).
        server = scope.get("extensions", {}).get("xmpp.server") or get_server()
        await server.ensure_started()  # a process serving only HTTP joins the cluster here
        flow = DaphneFlow.for_connection(send)
        if flow is not None:
            receive = flow.gate.get  # the same queue, with back-pressure on the socket
        self.transport = WebSocketTransport(send, scope, WebSocketFraming(server.config.max_stanza_size),
                                            is_secure=_is_secure(scope), server=server, flow=flow)
        self.channel_layer, self.channel_name = await layer.new_channel(
            get_channel_layer(self.channel_layer_alias))
        self.transport.channel_name = self.channel_name
        self.driver = C2SDriver(server, self.transport)
        self.bucket = Bucket(server.config.rate_limit_bytes)
        refused = server.streams.is_full()
        if refused:  # RFC 6120 §4.9.3.18: XMPP_MAX_CONNECTIONS counts WebSocket streams too
            self.driver.fail(StreamError("resource-constraint", "too many connections"))
        else:
            server.streams.count += 1
        layer_task = None
        if self.channel_name is not None:  # another process may hold part of the cluster
            layer_task = layer.listen(self.channel_layer, self.channel_name, lambda: self.driver.session, server)
        see_other_uri = settings.XMPP_WS_SEE_OTHER_URI
        try:
            while True:
                message = await receive()
                kind = message["type"]
                if kind == "websocket.receive":
                    await self._on_message(message, see_other_uri)
                elif kind == "websocket.disconnect":
                    break
        finally:
            if not refused:
                server.streams.count -= 1
            if layer_task is not None:
                layer_task.cancel()
            self.transport.is_closed = True
            self.transport.salvage_unsent()  # the peer went away with output unread
            # Disconnected, or cancelled by the ASGI server: unbind once (idempotent).
            await self.driver.connection_lost()

    async def _on_message(self, message: dict, see_other_uri: str) -> None:
        driver, transport = self.driver, self.transport
        if driver.is_closing or transport.is_closed:
            return
        text = message.get("text")
        if text is None:  # §3.2: XMPP messages are text frames
            driver.fail(StreamError("bad-format", "binary WebSocket messages are not allowed"))
            return
        if not await self.bucket.take(len(text)):
            # RFC 6120 §13.12: the ASGI server reads on while we wait; a peer that never
            # lets us catch up is flooding, not bursting.
            driver.fail(StreamError("policy-violation", "sending too fast"))
            return
        expecting_open = not driver.machine.opened
        try:
            data = transport.framing.receive(text.encode(), expecting_open=expecting_open)
        except StreamError as err:
            driver.fail(err)
            return
        if data is CLOSE:
            driver.close()
        elif expecting_open and see_other_uri:
            # §3.6.1: answer the <open/> with a <close/> naming the endpoint to use instead.
            transport.write(transport.framing.see_other_uri_bytes(see_other_uri))
            transport.close()
        else:
            await driver.data_received(data)


def _is_secure(scope: dict) -> bool:
    """wss://: the server says so (ASGI `scheme`), or the connection came in on our HTTPS
    port (Daphne leaves `scheme` out of WebSocket scopes), or the operator says a TLS
    proxy stands in front (XMPP_WS_CONSIDER_SECURE)."""
    if scope.get("scheme") == "wss" or settings.XMPP_WS_CONSIDER_SECURE:
        return True
    server = scope.get("server")
    return bool(server) and len(server) > 1 and server[1] == settings.XMPP_HTTPS_PORT


class XMPPOriginValidator(OriginValidator):
    """Channels' Origin check against XMPP_WS_ALLOWED_ORIGINS (read per connection), except
    that a client sending no Origin is let in: it is not a browser page, and XMPP
    authenticates in-band anyway (no ambient credentials for another site to abuse)."""

    def __init__(self, application: Any) -> None:
        super().__init__(application, ())

    def valid_origin(self, parsed_origin: Any) -> bool:
        if parsed_origin is None:
            return True
        return any(pattern == "*" or self.match_allowed_origin(parsed_origin, pattern)
                   for pattern in settings.XMPP_WS_ALLOWED_ORIGINS)


def origin_validator(application: Any) -> XMPPOriginValidator:
    """Wrap the WebSocket routes of xmppsite/asgi.py with the configured Origin check."""
    return XMPPOriginValidator(application)
