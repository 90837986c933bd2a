"""A RawClient that speaks XEP-0138 zlib once `compress()` succeeded (tests only)."""

from __future__ import annotations

import base64
import zlib
from typing import Any

from tests.clients import RawClient, header

COMPRESS = "http://jabber.org/protocol/compress"


class InflatingReader:
    """Inflates what the server sends; `read` returns only whole inflated output."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.inflater = zlib.decompressobj()
        self.wire = b""  # the compressed bytes as they came

    async def read(self, n: int) -> bytes:
        while True:
            chunk = await self.reader.read(n)
            if not chunk:
                return b""
            self.wire += chunk
            out = self.inflater.decompress(chunk)
            if out:
                return out


class DeflatingWriter:
    """Deflates every write with a sync flush, as XEP-0138 §8 asks of the sender."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        self.deflater = zlib.compressobj()

    def write(self, data: bytes) -> None:
        self.writer.write(self.deflater.compress(data) + self.deflater.flush(zlib.Z_SYNC_FLUSH))

    def write_raw(self, data: bytes) -> None:
        self.writer.write(data)

    def close(self) -> None:
        self.writer.close()


async def login(raw: RawClient, user: str, password: str = "secret") -> bytes:
    """Open the stream, PLAIN, restart; return the features offered after SASL."""
    raw.send(header())
    await raw.read_until(rb"</stream:features>")
    raw.take()
    token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    raw.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
    await raw.read_until(rb"<success[^>]*(/>|</success>)")
    raw.take()
    raw.send(header())
    features = await raw.read_until(rb"</stream:features>")
    raw.take()
    return features


async def compress(raw: RawClient, method: str = "zlib") -> bytes:
    """Ask for compression; on <compressed/> switch the socket to zlib and restart the stream.
    Returns the answer (and, when compressed, the new stream's features after it)."""
    raw.send(f"<compress xmlns='{COMPRESS}'><method>{method}</method></compress>")
    answer = await raw.read_until(rb"<compressed[^>]*/>|</failure>")
    raw.take()
    if b"<compressed" not in answer:
        return answer
    raw.reader = InflatingReader(raw.reader)
    raw.writer = DeflatingWriter(raw.writer)
    raw.send(header())
    return answer + await raw.read_until(rb"</stream:features>")


async def bind(raw: RawClient, resource: str = "z") -> bytes:
    raw.take()
    raw.send("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
             f"<resource>{resource}</resource></bind></iq>")
    bound = await raw.read_until(rb"</iq>")
    raw.take()
    return bound
