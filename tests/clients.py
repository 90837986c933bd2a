"""Test clients: slixmpp (a real client library) and a raw XML socket for malformed input."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import slixmpp
from lxml import etree

from tests.conftest import RunningServer, client_ssl_context


class Client(slixmpp.ClientXMPP):
    """slixmpp with the test server's self-signed certificate accepted and stanzas recorded."""

    def __init__(self, jid: str, password: str, **kw: Any) -> None:
        super().__init__(jid, password, **kw)
        self.ssl_context = client_ssl_context()
        self.received: asyncio.Queue[Any] = asyncio.Queue()
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")
        self.add_event_handler("message", lambda m: self.received.put_nowait(m))
        self.leaving = False

    def disconnect(self, *args: Any, **kwargs: Any) -> Any:
        self.leaving = True
        return super().disconnect(*args, **kwargs)

    def abort(self) -> None:
        self.leaving = True
        super().abort()

    def is_online(self) -> bool:
        """Connected and not on its way out: it can still answer a ping (tests.support.quiet)."""
        return self.is_connected() and not self.leaving

    async def next_message(self, timeout: float = 5.0) -> Any:
        return await asyncio.wait_for(self.received.get(), timeout)


async def connect(srv: RunningServer, jid: str, password: str = "secret", *, tls: bool = False,
                  presence: bool = True, resource: str | None = None, timeout: float = 10.0) -> Client:
    """Log a slixmpp client in and wait for session_start (and send initial presence)."""
    full = f"{jid}/{resource}" if resource else jid
    client = Client(full, password)
    if not tls:
        client["feature_mechanisms"].unencrypted_plain = True
    started = asyncio.get_running_loop().create_future()
    failed = asyncio.get_running_loop().create_future()
    client.add_event_handler("session_start", lambda _: started.done() or started.set_result(True))
    client.add_event_handler("failed_auth", lambda _: failed.done() or failed.set_result("failed_auth"))
    client.enable_direct_tls = False
    client.enable_starttls = tls
    client.enable_plaintext = not tls
    client.connect(srv.host, srv.port)
    srv.clients.append(client)
    done, _ = await asyncio.wait([started, failed], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if started not in done:
        raise AssertionError(f"login of {jid} failed: {failed.result() if failed.done() else 'timeout'}")
    if presence:
        client.send_presence()
    return client


class RawClient:
    """A raw XML socket: send bytes, read until a pattern, check what the server said."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = b""
        self.features = b""

    @classmethod
    async def open(cls, host: str, port: int, *, tls: bool = False) -> "RawClient":
        ctx = client_ssl_context() if tls else None
        reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
        return cls(reader, writer)

    def send(self, data: bytes | str) -> None:
        self.writer.write(data.encode() if isinstance(data, str) else data)

    async def read_until(self, pattern: bytes | str, timeout: float = 5.0) -> bytes:
        """Read until `pattern` (a regex) matches the accumulated input; return all of it."""
        pat = re.compile(pattern.encode() if isinstance(pattern, str) else pattern, re.S)
        async def loop() -> bytes:
            while not pat.search(self.buffer):
                chunk = await self.reader.read(65536)
                if not chunk:
                    raise ConnectionError(f"closed; got {self.buffer!r}")
                self.buffer += chunk
            return self.buffer
        return await asyncio.wait_for(loop(), timeout)

    async def read_to_eof(self, timeout: float = 5.0) -> bytes:
        async def loop() -> bytes:
            while True:
                chunk = await self.reader.read(65536)
                if not chunk:
                    return self.buffer
                self.buffer += chunk
        return await asyncio.wait_for(loop(), timeout)

    def take(self) -> bytes:
        data, self.buffer = self.buffer, b""
        return data

    async def starttls(self) -> None:
        await self.writer.start_tls(client_ssl_context())

    def close(self) -> None:
        self.writer.close()


async def open_stream(srv: Any) -> RawClient:
    """A raw connection whose stream is open; the features it was offered are in `.features`."""
    raw = await RawClient.open(srv.host, srv.port)
    raw.send(header())
    raw.features = await raw.read_until(rb"</stream:features>")
    raw.take()
    return raw


async def raw_plain_login(raw: RawClient, user: str, password: str = "secret",
                          resource: str = "r") -> bytes:
    """PLAIN login and bind on an opened RawClient (loopback tests allow PLAIN without TLS);
    returns what the bind answered, and leaves the buffer empty."""
    import base64

    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    raw.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
             + base64.b64encode(f"\0{user}\0{password}".encode()).decode() + "</auth>")
    await raw.read_until(rb"<success")
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    raw.take()
    raw.send("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
             f"<resource>{resource}</resource></bind></iq>")
    bound = await raw.read_until(rb"</iq>")
    raw.take()
    return bound


def header(to: str = "localhost", version: str = "1.0", xmlns: str = "jabber:client") -> str:
    return (f"<?xml version='1.0'?><stream:stream to='{to}' version='{version}' xmlns='{xmlns}' "
            "xmlns:stream='http://etherx.jabber.org/streams'>")


def stream_error_condition(data: bytes) -> str | None:
    m = re.search(rb"<stream:error[^>]*>\s*<([a-z-]+)\s+xmlns=['\"]urn:ietf:params:xml:ns:xmpp-streams", data)
    return m.group(1).decode() if m else None


def parse_fragment(data: bytes) -> etree._Element:
    return etree.fromstring(data)
