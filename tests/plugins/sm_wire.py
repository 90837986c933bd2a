"""Raw-socket helpers for the XEP-0198 wire tests: log in, enable, resume, cut the TCP
connection with a reset (SO_LINGER 0: no </stream:stream>, no FIN)."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import struct
from typing import Any

from lxml import etree

from tests.clients import RawClient, header
from tests.conftest import RunningServer

SM = "urn:xmpp:sm:3"
ENABLE = f"<enable xmlns='{SM}' resume='true'/>"


async def raw_auth(srv: RunningServer, user: str, *, tls: bool = False) -> RawClient:
    """A raw socket authenticated with PLAIN, its stream restarted, not bound; the features
    of the restarted stream are in `.features`."""
    raw = await RawClient.open(srv.host, srv.tls_port if tls else srv.port, tls=tls)
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    raw.take()
    token = base64.b64encode(f"\0{user}\0secret".encode()).decode()
    raw.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
    await raw.read_until(rb"<success[^>]*(/>|</success>)")
    raw.take()
    raw.send(header())
    raw.features = await raw.read_until(rb"</stream:features>")
    raw.take()
    return raw


async def bind(raw: RawClient, resource: str) -> None:
    raw.send("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
             f"<resource>{resource}</resource></bind></iq>")
    await raw.read_until(rb"</iq>")
    raw.take()


async def sm_login(srv: RunningServer, user: str, resource: str = "phone", *, resume: bool = True,
                   tls: bool = False, presence: bool = True) -> tuple[RawClient, etree._Element]:
    """Logged in, bound, stream management enabled (and initial presence): (raw, <enabled/>)."""
    raw = await raw_auth(srv, user, tls=tls)
    await bind(raw, resource)
    raw.send(ENABLE if resume else f"<enable xmlns='{SM}'/>")
    enabled = element(await raw.read_until(rb"<enabled[^>]*/>"), "enabled")
    raw.take()
    if presence:
        raw.send("<presence/>")
    return raw, enabled


def element(data: bytes, name: str) -> etree._Element:
    """The first <name xmlns=SM .../> in `data`, parsed."""
    match = re.search(rf"<{name}\b[^>]*?(/>|>.*?</{name}>)".encode(), data, re.S)
    assert match, f"no <{name}/> in {data!r}"
    el = etree.fromstring(match.group(0))
    assert el.tag == f"{{{SM}}}{name}", el.tag
    return el


def bodies(data: bytes) -> list[str]:
    return [b.decode() for b in re.findall(rb"<body>([^<]*)</body>", data)]


def reset(raw: RawClient) -> None:
    """Cut the connection with a TCP reset: nothing more is read or written."""
    sock: Any = raw.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raw.writer.transport.abort()


_TOP = re.compile(rb"\s*(<(message|presence|iq)\b[^>]*?(/>|>.*?</\2>)|<(r|a|resumed|enabled|failed)\b[^>]*?(/>|>.*?</\4>))", re.S)


class SMClient:
    """A client that counts what it handled (§4 'h') from complete stanzas only, answers
    the server's <r/>, and keeps the bodies of the messages it handled, in order."""

    def __init__(self, raw: RawClient) -> None:
        self.raw = raw
        self.h = 0
        self.bodies: list[str] = []

    def consume(self) -> None:
        buffer = self.raw.buffer
        while True:
            match = _TOP.match(buffer)
            if match is None:
                break
            buffer = buffer[match.end():]
            element = match.group(1)
            if match.group(2):
                self.h += 1
                self.bodies.extend(bodies(element))
            elif match.group(4) == "r".encode():
                self.raw.send(f"<a xmlns='{SM}' h='{self.h}'/>")
        self.raw.buffer = buffer

    async def pump(self, until: Any, timeout: float = 5.0) -> None:
        """Read and handle stanzas until `until()` holds."""
        async def loop() -> None:
            while True:
                self.consume()
                if until():
                    return
                chunk = await self.raw.reader.read(65536)
                if not chunk:
                    raise ConnectionError(f"closed; got {self.raw.buffer!r}")
                self.raw.buffer += chunk
        await asyncio.wait_for(loop(), timeout)
