"""XEP-0138: Stream Compression, the zlib method (RFC 1950), sans-I/O.

One `ZlibCodec` per compressed stream, both directions: `inflate(bytes) -> bytes` before the
parser, `deflate(bytes) -> bytes` after serialization, one Z_SYNC_FLUSH per call (§8: "a
partial flush ... after sending a group of stanzas" — the caller passes one write batch).
Inflation is bounded: the output of one received chunk may not exceed `max_inflate` bytes
(a zlib bomb — a few KiB expanding to gigabytes — ends the stream with policy-violation
instead of filling memory or burning CPU); the parser bounds each stanza on top of it.
"""

from __future__ import annotations

import zlib

from lxml import etree

from xmppcore import ns
from xmppcore.errors import StreamError

METHODS = ("zlib",)  # §9: zlib is REQUIRED; lzw (XEP-0229) is not offered


class ProcessingFailed(StreamError):
    """§6: compressed data that cannot be processed: <undefined-condition/> with the
    application-specific <failure><processing-failed/></failure>."""

    def __init__(self, text: str | None = None) -> None:
        super().__init__("undefined-condition", text)

    def to_element(self) -> etree._Element:
        el = super().to_element()
        failure = etree.SubElement(el, ns.q(ns.COMPRESS, "failure"), nsmap={None: ns.COMPRESS})
        etree.SubElement(failure, ns.q(ns.COMPRESS, "processing-failed"))
        return el


class ZlibCodec:
    """Both zlib streams of one XML stream (§7: compression is used in both directions)."""

    def __init__(self, max_inflate: int = 1024 * 1024, level: int = 6) -> None:
        self.max_inflate = max_inflate
        self._inflater = zlib.decompressobj()
        self._deflater = zlib.compressobj(level)
        self.bytes_in = 0  # compressed bytes received
        self.bytes_inflated = 0

    def inflate(self, data: bytes) -> bytes:
        """Decompress one received chunk; StreamError when it is a bomb or corrupt."""
        try:
            out = self._inflater.decompress(data, self.max_inflate + 1)
        except zlib.error as exc:
            raise ProcessingFailed(f"bad compressed data: {exc}") from None
        if len(out) > self.max_inflate or self._inflater.unconsumed_tail:
            raise StreamError("policy-violation", "compressed data inflates beyond the limit")
        if self._inflater.eof:  # the peer ended its zlib stream: nothing may follow
            raise ProcessingFailed("the compressed stream ended")
        self.bytes_in += len(data)
        self.bytes_inflated += len(out)
        return out

    def deflate(self, data: bytes) -> bytes:
        """Compress one write batch and flush it (Z_SYNC_FLUSH): the peer can read it all now."""
        return self._deflater.compress(data) + self._deflater.flush(zlib.Z_SYNC_FLUSH)
