"""XEP-0124 (BOSH) and XEP-0206 (XMPP Over BOSH): the HTTP face at /http-bind.

`BoshConsumer` is the ASGI application xmppsite/asgi.py routes /http-bind to (Daphne in
production). Every BOSH session is a `BoshConnection`: its protocol state
(`xmppcore.bosh.BoshSession`, which makes every decision), the c2s driver all transports
share (so the `Session` it binds is the same as a TCP one: presence, offline flush,
pings, carbons), the HTTP requests waiting for an answer, and one timer. A long poll is a
future on the event loop: no thread and no database connection is held while it waits.

Stream output (`BoshTransport.write`, one element per call) is queued in the session
and handed to the oldest held request as soon as the stream is idle; a request is
answered once its payloads have been fed to the driver, so a reply to a request's
stanza usually leaves with the response to that very request.

The table of BOSH sessions belongs to the process. With several HTTP processes behind a
load balancer, keep one session's requests on one process (sticky on the `sid`);
stanzas reach the session from any node through its channel-layer channel like any
other session's.

HTTP status: every BOSH error is `200` with `<body type='terminate' condition=…/>`
(XEP-0124 §17.2), except for a legacy client (no 'ver' in its session creation request),
which gets the deprecated 400/403/404 of §17.1. A request whose `sid` is unknown cannot
be told apart: it gets `200` and item-not-found.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from django.conf import settings
from lxml import etree

from xmppcore import bosh
from xmppcore.errors import StreamError
from xmppcore.jid import JID, InvalidJID
from xmppcore.stanza import Stanza
from xmppd import layer
from xmppd.c2s import C2SDriver
from xmppd.delivery import salvage
from xmppd.server import get_server
from xmppd.transports.rate import Bucket

if TYPE_CHECKING:
    from xmppd.modules import Module
    from xmppd.server import Server

log = logging.getLogger(__name__)
Send = Callable[[dict], Awaitable[None]]
Receive = Callable[[], Awaitable[dict]]
INFO_PAGE = (b"XMPP over BOSH (XEP-0124, XEP-0206).\n"
             b"POST <body xmlns='http://jabber.org/protocol/httpbind'/> requests to this URL.\n")


def load(server: "Server") -> "Module":
    """Metadata for `xep_report`, and the end of every BOSH session when the server stops."""
    module = server.module(
        "bosh", xep="XEP-0124", title="Bidirectional-streams Over Synchronous HTTP (BOSH)",
        version="1.11.2", status="complete",
        notes="/http-bind on the HTTP and HTTPS ports; acks, pause, key sequencing; one stream per session")
    server.module("xbosh", xep="XEP-0206", title="XMPP Over BOSH", version="1.4", status="complete",
                  notes="stream restarts (xmpp:restart)")
    module.hook("server/stopping", _on_server_stopping)
    return module


def _on_server_stopping(server: "Server") -> None:
    table_for(server).shutdown()


def limits_from_settings() -> bosh.Limits:
    """The BOSH limits in force (read per session creation, so an operator's change applies
    to new sessions)."""
    return bosh.Limits(
        max_wait=settings.XMPP_BOSH_MAX_WAIT, max_hold=settings.XMPP_BOSH_MAX_HOLD,
        max_inactivity=settings.XMPP_BOSH_MAX_INACTIVITY, polling=settings.XMPP_BOSH_POLLING,
        max_pause=settings.XMPP_BOSH_MAX_PAUSE,
    )


class BoshTransport:
    """The c2s driver's `Transport` for one BOSH session (not for one HTTP request)."""

    can_starttls = False  # XEP-0206 §3: TLS belongs to HTTP (https://), never STARTTLS

    def __init__(self, connection: "BoshConnection", peer: str, is_secure: bool) -> None:
        self.kind = "bosh"
        self.peer = peer
        self.is_secure = is_secure
        self.channel_bindings: dict[str, bytes] = {}  # the ASGI scope exposes no TLS object
        self.channel_name: str | None = None
        self.framing = connection.session.framing
        self._connection = connection

    def write(self, data: bytes) -> bool:
        """One top-level element for the client: queued for the next response."""
        return self._connection.output(data)

    def close(self) -> None:
        self._connection.stream_closed()

    async def start_tls(self) -> None:  # never called: can_starttls is False
        raise RuntimeError("STARTTLS is not used over BOSH (XEP-0206 §3)")


class BoshConnection:
    """One BOSH session at run time: protocol state, driver, waiting requests, timer."""

    def __init__(self, table: "BoshSessionTable", session: bosh.BoshSession, server: "Server",
                 peer: str, is_secure: bool) -> None:
        self.table = table
        self.session = session
        self.server = server
        self.is_secure = is_secure
        self.loop = asyncio.get_running_loop()
        self.transport = BoshTransport(self, peer, is_secure)
        self.driver = C2SDriver(server, self.transport)
        self.waiters: dict[int, asyncio.Future[bosh.Response]] = {}
        self.is_done = False
        self._input: deque[bytes] = deque()
        self._feeder: asyncio.Task | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._pump_soon = False
        self._layer_task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self.bucket = Bucket(server.config.rate_limit_bytes)  # request bodies, as TCP's reads

    @property
    def sid(self) -> str:
        return self.session.sid

    # -- requests ---------------------------------------------------------------------
    def start(self) -> asyncio.Future[bosh.Response]:
        """Open the XMPP stream; the future is the session creation response."""
        future = self.waiters[self.session.creation_rid] = self.loop.create_future()
        self._feed(b"".join(self.session.start()))
        return future

    def submit(self, request: bosh.Request) -> asyncio.Future[bosh.Response]:
        """A request for this session; the future resolves to its response."""
        outcome = self.session.receive(request, self.loop.time())
        future: asyncio.Future[bosh.Response] = self.loop.create_future()
        if outcome.reply is not None:
            future.set_result(outcome.reply)
        else:
            previous = self.waiters.get(request.rid)
            if previous is not None and not previous.done() and outcome.superseded is not None:
                previous.set_result(outcome.superseded)
            self.waiters[request.rid] = future
        if outcome.feed:
            self._feed(b"".join(outcome.feed))
        self.pump()
        return future

    def abandon(self, rid: int, future: asyncio.Future) -> None:
        """The HTTP request waiting on `rid` went away before its answer."""
        if self.waiters.get(rid) is future:
            del self.waiters[rid]
            if not self.is_done:
                self.session.abandon(rid)
                self.pump()

    # -- the stream ---------------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        """Stream input goes to the driver in rid order, one request's worth at a time."""
        self._input.append(data)
        if self._feeder is None:
            self._feeder = self._spawn(self._run_feeder())

    async def _run_feeder(self) -> None:
        try:
            while self._input and not self.is_done:
                await self.driver.data_received(self._input.popleft())
        finally:
            self._feeder = None
            self.pump()

    def output(self, data: bytes) -> bool:
        """BoshTransport.write: queue, and wake a held request once the stream is idle."""
        if self.is_done or not self.session.push(data):
            return False
        if data:
            self._wake()
        return True

    def stream_closed(self) -> None:
        """BoshTransport.close: the driver ended the XMPP stream."""
        self.session.stream_closed()
        self._wake()

    def shutdown(self, condition: str = "system-shutdown") -> None:
        """The server ends this session (XEP-0124 §17.2)."""
        self.session.shutdown(condition)
        self.pump()
        self._finish()

    def flooded(self) -> bosh.Response:
        """XMPP_RATE_LIMIT_BYTES exceeded for longer than a burst (RFC 6120 §13.12): the
        session ends with policy-violation (XEP-0124 §11, §17.2), told to every held request
        and to this one."""
        self.shutdown("policy-violation")
        return bosh.terminal_response("policy-violation", legacy=self.session.is_legacy,
                                      content_type=self.session.content_type)

    # -- answering ------------------------------------------------------------------------
    def _wake(self) -> None:
        # Several writes in one turn of the loop (a presence broadcast, a roster push and
        # its result) leave in one response.
        if not self._pump_soon:
            self._pump_soon = True
            self.loop.call_soon(self._pump_now)

    def _pump_now(self) -> None:
        self._pump_soon = False
        self.pump()

    def pump(self, now: float | None = None) -> None:
        """Send what the session says is due; finish it, or set the timer for what's next.
        Not while the driver is busy with a request: its output joins that request's answer."""
        if self.is_done or self._feeder is not None:
            return
        now = self.loop.time() if now is None else now
        for rid, response in self.session.due(now):
            future = self.waiters.pop(rid, None)
            if future is not None and not future.done():
                future.set_result(response)
        if self.session.is_finished or self.session.is_expired(now):
            self._finish()
            return
        self._set_timer(self.session.deadline())

    def _set_timer(self, deadline: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deadline is not None:
            # Never earlier than the deadline (asyncio may run a timer a hair early).
            self._timer = self.loop.call_at(deadline, lambda: self.pump(max(self.loop.time(), deadline)))

    def _finish(self) -> None:
        """The session is over: out of the table, the driver told (unavailable presence is
        the core's business on session/closed), undelivered stanzas not lost."""
        if self.is_done:
            return
        self.is_done = True
        self.table.remove(self)
        self._set_timer(None)
        if self._layer_task is not None:
            self._layer_task.cancel()
        gone = bosh.terminal_response("item-not-found", legacy=self.session.is_legacy,
                                      content_type=self.session.content_type)
        for future in self.waiters.values():
            if not future.done():
                future.set_result(gone)
        self.waiters.clear()
        leftover, self.session.outbox = self.session.outbox, []
        self._spawn(self._close_driver(leftover))

    async def _close_driver(self, leftover: list[bytes]) -> None:
        self.driver.is_closing = True
        await self.driver.connection_lost()
        if leftover:
            await salvage(self.server, leftover)

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- other processes (the Redis channel layer) ------------------------------------------
    async def join_channel_layer(self) -> None:
        """With a channel layer between processes, the session gets its channel (DESIGN.md:
        every session has one) before it binds."""
        channel_layer, channel = await layer.new_channel()
        if channel is None:
            return
        self.transport.channel_name = channel
        self._layer_task = layer.listen(channel_layer, channel, lambda: self.driver.session, self.server)
        self._tasks.add(self._layer_task)
        self._layer_task.add_done_callback(self._tasks.discard)


class BoshSessionTable:
    """The BOSH sessions of one server in this process, by `sid`."""

    def __init__(self, server: "Server") -> None:
        self.server = server
        self.by_sid: dict[str, BoshConnection] = {}

    async def create(self, request: bosh.Request, peer: str, is_secure: bool) -> BoshConnection:
        """XEP-0124 §7: a new session (raises BoshError when the request cannot make one)."""
        sid = secrets.token_urlsafe(24)  # §7.2 / §19: unpredictable and unique
        session = bosh.BoshSession(sid, request, limits_from_settings(), asyncio.get_running_loop().time(),
                                   is_local_domain=self.server.is_local_domain)
        connection = BoshConnection(self, session, self.server, peer, is_secure)
        self.by_sid[sid] = connection
        await connection.join_channel_layer()
        return connection

    def get(self, sid: str) -> BoshConnection | None:
        return self.by_sid.get(sid)

    def is_full(self) -> bool:
        limit = self.server.config.max_connections
        return bool(limit) and len(self.by_sid) >= limit

    def remove(self, connection: BoshConnection) -> None:
        if self.by_sid.get(connection.sid) is connection:
            del self.by_sid[connection.sid]

    def shutdown(self) -> None:
        for connection in list(self.by_sid.values()):
            connection.shutdown("system-shutdown")

    def __len__(self) -> int:
        return len(self.by_sid)


_tables: "weakref.WeakKeyDictionary[Server, BoshSessionTable]" = weakref.WeakKeyDictionary()


def table_for(server: "Server") -> BoshSessionTable:
    table = _tables.get(server)
    if table is None:
        table = _tables[server] = BoshSessionTable(server)
    return table


# -- HTTP ----------------------------------------------------------------------------------

class _TooLarge(Exception):
    pass


class BoshConsumer:
    """The ASGI application at /http-bind (and /http-bind/): one call per HTTP request."""

    @classmethod
    def as_asgi(cls) -> Callable[[dict, Receive, Send], Awaitable[None]]:
        async def app(scope: dict, receive: Receive, send: Send) -> None:
            await cls()(scope, receive, send)
        return app

    async def __call__(self, scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        origin = headers.get("origin")
        cors = cors_headers(origin)
        if cors is None:  # a browser page from an origin the operator did not allow
            await _send(send, 403, b"origin not allowed\n", "text/plain; charset=utf-8", [])
            return
        method = scope["method"]
        if method == "OPTIONS":  # CORS preflight
            await _send(send, 200, b"", "text/plain; charset=utf-8", cors)
        elif method in ("GET", "HEAD"):
            await _send(send, 200, b"" if method == "HEAD" else INFO_PAGE, "text/plain; charset=utf-8", cors)
        elif method == "POST":
            await self._post(scope, receive, send, cors)
        else:
            await _send(send, 405, b"", "text/plain; charset=utf-8", cors + [(b"allow", b"GET, POST, OPTIONS")])

    async def _post(self, scope: dict, receive: Receive, send: Send, cors: list[tuple[bytes, bytes]]) -> None:
        server = get_server()
        cfg = server.config
        try:
            data = await _read_body(receive, 4 * cfg.max_stanza_size)
        except _TooLarge:
            await _respond(send, bosh.terminal_response("policy-violation"), cors)
            return
        if data is None:
            return  # the client went away
        table = table_for(server)
        secure = is_secure(scope)
        try:
            request = bosh.parse_request(data, cfg.max_stanza_size, cfg.max_depth)
            if request.sid is None:
                if table.is_full():  # as on TCP: XMPP_MAX_CONNECTIONS (RFC 6120 §4.9.3.17)
                    await _respond(send, _stream_error_response("resource-constraint", "too many sessions"), cors)
                    return
                await server.ensure_started()  # a process serving only HTTP joins the cluster here
                connection = await table.create(request, _peer(scope), secure)
                future = connection.start()
            else:
                connection = table.get(request.sid)
                if connection is None:  # §17.2 item-not-found (1): 'sid' is not valid
                    await _respond(send, bosh.terminal_response("item-not-found"), cors)
                    return
                if connection.is_secure and not secure:
                    # §19: a secure session's request over plain HTTP: refused, session kept.
                    await _send(send, 403, b"", "text/plain; charset=utf-8", cors)
                    return
                if not await connection.bucket.take(len(data)):
                    await _respond(send, connection.flooded(), cors)
                    return
                future = connection.submit(request)
        except bosh.BoshError as err:
            await _respond(send, bosh.terminal_response(err.condition), cors)
            return
        response = await _wait(future, receive)
        if response is None:
            connection.abandon(request.rid, future)
            return
        await _respond(send, response, cors)


def _stream_error_response(condition: str, text: str) -> bosh.Response:
    """XEP-0206 §7: a stream error reaches a BOSH client as 'remote-stream-error'."""
    error = etree.tostring(StreamError(condition, text).to_element())
    return bosh.terminal_response("remote-stream-error", payloads=[error])


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _wait(future: asyncio.Future[bosh.Response], receive: Receive) -> bosh.Response | None:
    """The response, or None when the client closes the connection first."""
    if future.done():
        return future.result()
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({future, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    return future.result() if future.done() else None


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _respond(send: Send, response: bosh.Response, cors: list[tuple[bytes, bytes]]) -> None:
    await _send(send, response.status, response.body, response.content_type, cors)


async def _send(send: Send, status: int, body: bytes, content_type: str,
                extra: list[tuple[bytes, bytes]]) -> None:
    headers = [(b"content-type", content_type.encode("latin-1")),
               (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store"), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def cors_headers(origin: str | None) -> list[tuple[bytes, bytes]] | None:
    """CORS for browser clients on other origins (XMPP_BOSH_CORS_ORIGINS); None: refused.
    A request with no Origin is not from a browser page and is always served."""
    allowed = settings.XMPP_BOSH_CORS_ORIGINS
    if origin is None:
        return []
    if "*" in allowed:
        allow = b"*"
    elif origin in allowed:
        allow = origin.encode("latin-1")
    else:
        return None
    headers = [(b"access-control-allow-origin", allow),
               (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
               (b"access-control-allow-headers", b"Content-Type"),
               (b"access-control-max-age", b"86400")]
    if allow != b"*":
        headers.append((b"vary", b"Origin"))
    return headers


def is_secure(scope: dict) -> bool:
    """https://: the server says so, or the request came in on our HTTPS port, or the
    operator says a TLS proxy stands in front (XMPP_BOSH_CONSIDER_SECURE)."""
    if scope.get("scheme") == "https" or settings.XMPP_BOSH_CONSIDER_SECURE:
        return True
    server = scope.get("server")
    return bool(server) and len(server) > 1 and server[1] == settings.XMPP_HTTPS_PORT


def _peer(scope: dict) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""
