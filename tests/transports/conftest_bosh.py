"""BOSH test helpers: raw HTTP/1.1 over asyncio streams (what went over the wire, byte for
byte) and a small XEP-0124/XEP-0206 client built on it. The server is the project's ASGI
application served by the `make_web` fixture of tests/transports/conftest.py."""

from __future__ import annotations

import asyncio
import base64
import secrets
import ssl
from dataclasses import dataclass, field
from typing import Any, AsyncIterator
from xml.sax.saxutils import quoteattr

import pytest
from lxml import etree

from tests.conftest import client_ssl_context

BOSH = "http://jabber.org/protocol/httpbind"
XBOSH = "urn:xmpp:xbosh"
STREAM = "http://etherx.jabber.org/streams"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
CLIENT = "jabber:client"


@dataclass
class HTTPResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed: float = 0.0

    @property
    def el(self) -> etree._Element:
        """The response's <body/>: it must be one well-formed element (XEP-0124 §2)."""
        return etree.fromstring(self.body)

    @property
    def type(self) -> str | None:
        return self.el.get("type")

    @property
    def condition(self) -> str | None:
        return self.el.get("condition")

    @property
    def payloads(self) -> list[etree._Element]:
        return list(self.el)


async def http(host: str, port: int, method: str, path: str, body: bytes = b"", *,
               headers: dict[str, str] | None = None, tls: bool = False, timeout: float = 5.0) -> HTTPResponse:
    """One HTTP/1.1 request on its own connection (Connection: close), read to the end."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    ctx: ssl.SSLContext | None = client_ssl_context() if tls else None
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=ctx), timeout)
    try:
        head = {"Host": f"{host}:{port}", "Connection": "close", "Content-Length": str(len(body))}
        if body:
            head["Content-Type"] = "text/xml; charset=utf-8"
        head.update(headers or {})
        lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in head.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head_bytes, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    if "content-length" in parsed:
        rest = rest[:int(parsed["content-length"])]
    elif parsed.get("transfer-encoding") == "chunked":
        rest = _dechunk(rest)
    return HTTPResponse(int(status_line.split()[1]), parsed, rest, loop.time() - started)


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2:]
    return out


def body(payload: str = "", **attrs: Any) -> bytes:
    """A request <body/>: attrs with a `xmpp_` prefix are in the xbosh namespace (XEP-0206),
    `xml_lang` is xml:lang; `payload` is raw XML (the test decides every byte)."""
    parts = []
    for name, value in attrs.items():
        if value is None:
            continue
        if name.startswith("xmpp_"):
            name = "xmpp:" + name[5:]
        elif name == "xml_lang":
            name = "xml:lang"
        parts.append(f" {name}={quoteattr(str(value))}")
    return (f"<body xmlns='{BOSH}' xmlns:xmpp='{XBOSH}'{''.join(parts)}>{payload}</body>").encode()


@dataclass
class BoshClient:
    """A BOSH client by hand: it numbers requests (rid) and keeps the sid."""

    host: str
    port: int
    path: str = "/http-bind"
    tls: bool = False
    rid: int = field(default_factory=lambda: secrets.randbelow(2**40) + 2**20)
    sid: str | None = None
    jid: str | None = None
    created: HTTPResponse | None = None  # the session creation response
    created_rid: int = 0

    @classmethod
    def for_web(cls, web: Any, **kw: Any) -> "BoshClient":
        return cls(web.host, web.port, tls=web.tls, **kw)

    def next_rid(self) -> int:
        self.rid += 1
        return self.rid

    async def post(self, data: bytes, *, headers: dict[str, str] | None = None,
                   timeout: float = 5.0) -> HTTPResponse:
        return await http(self.host, self.port, "POST", self.path, data, headers=headers, tls=self.tls,
                          timeout=timeout)

    async def create(self, *, to: str = "localhost", wait: int | None = 30, hold: int | None = 1,
                     ver: str | None = "1.11", **attrs: Any) -> HTTPResponse:
        """XEP-0124 §7.1 session creation (XEP-0206 §4: xmpp:version='1.0')."""
        attrs.setdefault("xmpp_version", "1.0")
        self.created_rid = self.rid
        response = self.created = await self.post(body(rid=self.rid, to=to, wait=wait, hold=hold, ver=ver,
                                                       xml_lang="en", **attrs))
        if response.status == 200 and response.el.get("sid"):
            self.sid = response.el.get("sid")
        return response

    async def send(self, payload: str = "", *, rid: int | None = None, timeout: float = 5.0,
                   **attrs: Any) -> HTTPResponse:
        """One request of the session; `rid` defaults to the next one."""
        rid = self.next_rid() if rid is None else rid
        return await self.post(body(payload, rid=rid, sid=self.sid, **attrs), timeout=timeout)

    def send_later(self, payload: str = "", **kw: Any) -> asyncio.Task:
        """The same, as a task: a request the server is expected to hold."""
        rid = self.next_rid() if "rid" not in kw else kw.pop("rid")
        return asyncio.get_running_loop().create_task(self.send(payload, rid=rid, **kw))

    async def login(self, user: str, password: str = "secret", resource: str = "bosh", **create: Any) -> str:
        """Session creation, SASL PLAIN, restart (XEP-0206 §5) and resource binding."""
        created = await self.create(**create)
        assert created.status == 200 and created.type is None, created.body
        assert created.el.find(f"{{{STREAM}}}features/{{{SASL}}}mechanisms") is not None, created.body
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        auth = await self.send(f"<auth xmlns='{SASL}' mechanism='PLAIN'>{token}</auth>")
        assert auth.el.find(f"{{{SASL}}}success") is not None, auth.body
        restarted = await self.send(to="localhost", xml_lang="en", xmpp_restart="true")
        assert restarted.el.find(f"{{{STREAM}}}features/{{{BIND}}}bind") is not None, restarted.body
        bound = await self.send(f"<iq xmlns='{CLIENT}' type='set' id='bind1'><bind xmlns='{BIND}'>"
                                f"<resource>{resource}</resource></bind></iq>")
        self.jid = bound.el.findtext(f"{{{CLIENT}}}iq/{{{BIND}}}bind/{{{BIND}}}jid")
        assert self.jid, bound.body
        return self.jid

    async def collect(self, tag: str, timeout: float = 5.0, **kw: Any) -> etree._Element:
        """Poll until a payload whose Clark tag is `tag` arrives; return it."""
        async def loop() -> etree._Element:
            while True:
                response = await self.send(timeout=timeout, **kw)
                assert response.type is None, response.body
                for el in response.payloads:
                    if el.tag == tag:
                        return el
        return await asyncio.wait_for(loop(), timeout)


@pytest.fixture
async def bosh_web(make_web: Any) -> AsyncIterator[Any]:
    """The `web` server (PLAIN without TLS, uvicorn); its BOSH sessions are ended before
    uvicorn stops, so that no held request makes it wait for its graceful-shutdown timeout."""
    from xmppd.transports.bosh import table_for

    web = await make_web()
    yield web
    table_for(web.xmpp.server).shutdown()
    await asyncio.sleep(0)  # one event-loop turn, not a wait: the released requests answer
