"""XEP-0138: Stream Compression (zlib, RFC 1950).

`XMPP_COMPRESSION` (server.config.compression) says when the <compression/> stream feature
is offered: `off` (the default: never), `plain` (only on streams that are not encrypted) or
`always` (also under TLS). It is off by default because compressing secrets together with
text an attacker chooses leaks them through the compressed length (CRIME, BREACH; §10 of
the XEP calls the zlib method insecure for that reason); under TLS that defeats the
encryption, which is why TLS compression is off too (xmppd/tls.py).

Negotiation (§3, XEP-0170): offered after SASL and before resource binding, on TCP and
direct-TLS streams (a WebSocket compresses with permessage-deflate, BOSH with HTTP). A
<compress/> naming another method gets <failure><unsupported-method/>; one that cannot be
honoured here (not offered on this stream, already compressed, after binding, a transport
without the seam) gets <failure><setup-failed/> — neither ends the stream (§3 note). On
success: <compressed/> is written in the clear, then the transport deflates every write batch
(xmppcore/compression.py, one Z_SYNC_FLUSH each) and the driver inflates every chunk read
before the parser (bounded by `XMPP_COMPRESSION_MAX_INFLATE`: a zlib bomb gets
policy-violation), and the stream restarts (§3). Everything negotiated afterwards —
binding, XEP-0198 enable or resume, CSI — runs inside the compressed stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lxml import etree

from xmppcore import ns
from xmppcore.compression import METHODS, ZlibCodec
from xmppcore.errors import StreamError

if TYPE_CHECKING:
    from xmppd.modules import Module
    from xmppd.server import Server

MODES = ("off", "plain", "always")


def _failure(condition: str) -> bytes:
    failure = etree.Element(ns.q(ns.COMPRESS, "failure"), nsmap={None: ns.COMPRESS})
    etree.SubElement(failure, ns.q(ns.COMPRESS, condition))
    return etree.tostring(failure)


class Compression:
    def __init__(self, server: "Server") -> None:
        self.server = server

    def is_offered(self, driver: Any) -> bool:
        """Whether this stream may be compressed now (the same rule for the feature and the
        request: what is not offered is refused)."""
        mode = self.server.config.compression
        if mode == "off" or (mode == "plain" and driver.is_secure):
            return False
        return (driver.is_authenticated and driver.session is None and driver.inflate is None
                and hasattr(driver.transport, "start_compression"))

    def feature(self, driver: Any) -> etree._Element | None:
        """§3: <compression xmlns='http://jabber.org/features/compress'><method>zlib</method>."""
        if not self.is_offered(driver):
            return None
        feature = etree.Element(ns.q(ns.COMPRESS_FEATURE, "compression"), nsmap={None: ns.COMPRESS_FEATURE})
        for method in METHODS:
            etree.SubElement(feature, ns.q(ns.COMPRESS_FEATURE, "method")).text = method
        return feature

    def nonza(self, driver: Any, el: etree._Element) -> None:
        name = etree.QName(el).localname
        if name != "compress":
            raise StreamError("unsupported-stanza-type", f"unknown element <{name}/>")
        methods = [m.text for m in el.findall(ns.q(ns.COMPRESS, "method"))]
        if len(methods) != 1 or methods[0] not in METHODS:
            driver.transport.write(_failure("unsupported-method"))
        elif not self.is_offered(driver):
            driver.transport.write(_failure("setup-failed"))
        else:
            self.start(driver)

    def start(self, driver: Any) -> None:
        codec = ZlibCodec(max_inflate=self.server.config.compression_max_inflate)
        compressed = etree.Element(ns.q(ns.COMPRESS, "compressed"), nsmap={None: ns.COMPRESS})
        driver.transport.write(etree.tostring(compressed))
        driver.transport.start_compression(codec.deflate)  # <compressed/> leaves uncompressed
        driver.inflate = codec.inflate
        driver.machine.restart()  # §3: both sides start a new (compressed) stream


def load(server: "Server") -> "Module":
    mode = server.config.compression
    if mode not in MODES:
        raise ValueError(f"XMPP_COMPRESSION must be one of {', '.join(MODES)}, not {mode!r}")
    module = server.module(
        "compression", xep="XEP-0138", title="Stream Compression", version="2.1", status="complete",
        notes="zlib only; offered per XMPP_COMPRESSION (off by default: CRIME-style leaks under TLS)",
    )
    compression = Compression(server)
    module.stream_feature(compression.feature)
    module.nonza(ns.COMPRESS, compression.nonza)
    return module
