"""Fixtures for the HTTP-based transports: the project's ASGI application (xmppsite/asgi.py)
served in-process by uvicorn on a free loopback port, beside the TCP listeners of
`make_server`, so that WebSocket (and BOSH) users and slixmpp TCP users share one server.

Production serves the same application with Daphne (`manage.py xmppd`); test_websocket.py
has one test that runs that command for real.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
from dataclasses import dataclass
from typing import Any, AsyncIterator

import pytest
import uvicorn
from lxml import etree
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import RunningServer, client_ssl_context
from tests.support.waiting import wait_for

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"
CLIENT = "jabber:client"


@dataclass
class WebServer:
    """The ASGI app on `port` (http:// and ws://, or https:// and wss:// when `tls`)."""

    xmpp: RunningServer
    port: int
    tls: bool = False
    host: str = "127.0.0.1"

    def url(self, path: str = "/xmpp-websocket") -> str:
        scheme = ("wss" if self.tls else "ws") if path == "/xmpp-websocket" else ("https" if self.tls else "http")
        return f"{scheme}://{self.host}:{self.port}{path}"

    @property
    def ws_url(self) -> str:
        return self.url("/xmpp-websocket")


@pytest.fixture
async def make_web(make_server: Any) -> AsyncIterator[Any]:
    """Factory: `await make_web(tls=False, **make_server overrides)` -> WebServer."""
    servers: list[tuple[uvicorn.Server, asyncio.Task]] = []

    async def factory(tls: bool = False, **overrides: Any) -> WebServer:
        from xmppd import tls as xtls
        from xmppsite.asgi import application

        running = await make_server(**overrides)
        cfg = running.server.config
        ssl_args: dict[str, Any] = {}
        if tls:
            cert, key = xtls.ensure_certificate(cfg.data_dir, cfg.domains)
            ssl_args = {"ssl_certfile": cert, "ssl_keyfile": key}
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(application, lifespan="off", log_config=None, log_level="warning",
                                ws="websockets-sansio", timeout_graceful_shutdown=2, **ssl_args)
        server = uvicorn.Server(config)
        task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        servers.append((server, task))
        await wait_for(lambda: server.started or task.done(), 2, what="uvicorn started")
        if not server.started:
            raise RuntimeError(f"uvicorn did not start: {task.exception()!r}")
        return WebServer(running, sock.getsockname()[1], tls)

    yield factory
    for server, task in servers:
        server.should_exit = True
    for server, task in servers:
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def web(make_web: Any) -> WebServer:
    """ws:// on loopback with PLAIN allowed without TLS (like the `xmpp` fixture)."""
    return await make_web()


# -- a raw RFC 7395 client: one element per message, assertions on what came over the wire --

class WSClient:
    """A `websockets` connection speaking RFC 7395 by hand."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, url: str, *, subprotocols: tuple[str, ...] = ("xmpp",),
                   origin: str | None = None) -> "WSClient":
        """Connect offering `subprotocols` (none at all: no Sec-WebSocket-Protocol header)."""
        ctx: ssl.SSLContext | None = client_ssl_context() if url.startswith("wss:") else None
        ws = await connect(url, subprotocols=list(subprotocols) or None,
                           origin=origin, ssl=ctx, open_timeout=5, close_timeout=2,
                           ping_interval=None, compression=None)
        return cls(ws)

    async def send(self, data: str | bytes) -> None:
        await self.ws.send(data.decode() if isinstance(data, bytes) else data)

    async def recv(self, timeout: float = 5.0) -> str:
        msg = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(msg, str), f"RFC 7395 §3.2: text messages only, got {msg!r}"
        return msg

    async def recv_el(self, timeout: float = 5.0) -> etree._Element:
        """The next message, parsed: each message must be one complete element (§3.3.3)."""
        return etree.fromstring((await self.recv(timeout)).encode())

    async def recv_until(self, tag: str, timeout: float = 5.0) -> etree._Element:
        """Skip messages until one whose Clark tag is `tag` arrives."""
        async def loop() -> etree._Element:
            while True:
                el = await self.recv_el(timeout)
                if el.tag == tag:
                    return el
        return await asyncio.wait_for(loop(), timeout)

    async def open_stream(self, to: str = "localhost") -> tuple[etree._Element, etree._Element]:
        """§3.4: <open/>, then the server's <open/> and <stream:features/>."""
        await self.send(f"<open xmlns='{FRAMING}' to='{to}' version='1.0'/>")
        opened = await self.recv_el()
        features = await self.recv_el()
        return opened, features

    async def login(self, user: str, password: str = "secret", resource: str = "ws") -> str:
        """PLAIN, restart (§3.7: a new <open/>), bind; returns the bound full JID."""
        await self.open_stream()
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        await self.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
        success = await self.recv_el()
        assert success.tag == "{urn:ietf:params:xml:ns:xmpp-sasl}success", etree.tostring(success)
        await self.open_stream()
        await self.send(f"<iq xmlns='{CLIENT}' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                        f"<resource>{resource}</resource></bind></iq>")
        result = await self.recv_el()
        assert result.get("type") == "result", etree.tostring(result)
        return result.findtext(".//{urn:ietf:params:xml:ns:xmpp-bind}jid")

    async def wait_closed(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(self.ws.wait_closed(), timeout)

    async def close(self) -> None:
        await self.ws.close()
