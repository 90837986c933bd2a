"""RFC 7395 framing: XMPP over WebSocket, sans-I/O.

On TCP an XML stream is one long document (`xmppcore.stream.TCPFraming`). On a
WebSocket every message is one complete element (RFC 7395 §3.3.3), the stream header
is an empty `<open/>` and the closing tag a `<close/>` (§3.3.1), both in the
urn:ietf:params:xml:ns:xmpp-framing namespace. `WebSocketFraming` translates in both
directions so that the stream machine (and its parser) stay the same for every
transport:

* out: `open_bytes` / `close_bytes` give the <open/> and <close/> messages the machine
  sends in place of <stream:stream> and </stream:stream>;
* in: `receive` turns one WebSocket text message into the bytes a stream parser
  expects: an <open/> becomes a synthetic <stream:stream> header, a stanza is passed
  through, a <close/> is reported as `CLOSE`.

BOSH (XEP-0124/0206) wraps elements in <body/> instead; it lives in `xmppcore.bosh`.
"""

from __future__ import annotations

import functools
from typing import Final

from lxml import etree

from xmppcore import ns
from xmppcore.errors import StreamError

OPEN: Final = ns.q(ns.WEBSOCKET, "open")
CLOSE_TAG: Final = ns.q(ns.WEBSOCKET, "close")
SUBPROTOCOL: Final = "xmpp"  # RFC 7395 §3.1, §5.1 (IANA WebSocket Subprotocol Name Registry)
_XML_LANG = ns.q(ns.XML, "lang")
# The <open/> attributes RFC 7395 §3.3.1 gives the semantics of RFC 6120 §4.7.
_HEADER_ATTRIBUTES = ("to", "from", "id", "version", _XML_LANG)


class _Close:
    """The peer sent <close/>: answer with ours and close the WebSocket (RFC 7395 §3.6)."""

    def __repr__(self) -> str:
        return "CLOSE"


CLOSE: Final = _Close()


@functools.cache
def _parser() -> etree.XMLParser:
    """One parser for every connection (they are served by one event-loop thread): an idle
    session keeps no libxml2 context of its own. The same restrictions as the stream
    parser (RFC 6120 §11.1): no entity expansion, no DTD, no network."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, remove_blank_text=False)


class WebSocketFraming:
    """One WebSocket connection's framing (RFC 7395 §3.3): both directions."""

    __slots__ = ("max_message_size",)

    def __init__(self, max_message_size: int = 262144) -> None:
        self.max_message_size = max_message_size

    # -- out: what the stream machine sends ----------------------------------------
    def open_bytes(self, attrs: dict[str, str], content_ns: str) -> bytes:
        """The response stream header: <open xmlns=framing from=… id=… version=… xml:lang=…/> (§3.4)."""
        el = etree.Element(OPEN, nsmap={None: ns.WEBSOCKET})
        for name, value in attrs.items():
            el.set(_XML_LANG if name == "xml:lang" else name, value)
        return etree.tostring(el)

    def close_bytes(self) -> bytes:
        """The closing stream tag (§3.6)."""
        return etree.tostring(etree.Element(CLOSE_TAG, nsmap={None: ns.WEBSOCKET}))

    @staticmethod
    def see_other_uri_bytes(uri: str) -> bytes:
        """§3.6.1: send the client to another endpoint (which may be BOSH) instead of opening."""
        el = etree.Element(CLOSE_TAG, nsmap={None: ns.WEBSOCKET})
        el.set("see-other-uri", uri)
        return etree.tostring(el)

    # -- in: one WebSocket message --------------------------------------------------
    def receive(self, message: bytes, *, expecting_open: bool) -> bytes | _Close:
        """Translate one text message into stream-parser input, or `CLOSE`.

        `expecting_open` is True before the first <open/> and after each stream restart
        (RFC 7395 §3.7: after SASL success the client opens a new stream). Raises
        StreamError for anything RFC 7395 does not allow.
        """
        # RFC 6120 §13.12: the stanza size limit bounds a message before it is parsed.
        if len(message) > self.max_message_size:
            raise StreamError("policy-violation", "message too large")
        el = self._parse(message)
        tag = el.tag
        if tag == OPEN:
            if not expecting_open:
                raise StreamError("bad-format", "<open/> inside an open stream")
            return self._header(el)
        if tag == CLOSE_TAG:
            return CLOSE
        if expecting_open:
            # §3.3.1: the stream header is <open/> in the framing namespace, nothing else.
            raise StreamError("invalid-namespace", f"expected <open xmlns='{ns.WEBSOCKET}'/>")
        return message

    def _parse(self, message: bytes) -> etree._Element:
        # §3.3.3: every message is one complete, well-formed element. Whitespace keepalives
        # are not allowed on WebSocket (§3.10): an empty message is not well-formed either.
        try:
            return etree.fromstring(message, _parser())
        except etree.XMLSyntaxError as exc:
            text = str(exc.msg or exc).split(", line")[0][:200]
            raise StreamError("not-well-formed", text) from None
        except ValueError as exc:  # e.g. an empty document
            raise StreamError("not-well-formed", str(exc)[:200]) from None

    @staticmethod
    def _header(el: etree._Element) -> bytes:
        """The RFC 6120 stream header equivalent to an <open/> (§3.3.1: same attributes)."""
        if len(el) or (el.text and el.text.strip()):
            raise StreamError("bad-format", "<open/> is an empty element")
        header = etree.Element(ns.q(ns.STREAM, "stream"), nsmap={None: ns.CLIENT, "stream": ns.STREAM})
        for name in _HEADER_ATTRIBUTES:
            value = el.get(name)
            if value is not None:
                header.set(name, value)
        data = etree.tostring(header)
        # Serialized empty (<stream:stream .../>); the parser needs the start tag only.
        return data[:-2] + b">"
