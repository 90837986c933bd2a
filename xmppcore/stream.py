"""The stream machine: one XML stream's rules, sans-I/O (RFC 6120 §4-§7).

Bytes go in through `receive`; events come out. Bytes to send come from the
`open_bytes`, `element_bytes`, `error_bytes` and `close_bytes` helpers. The machine
knows the negotiation state (tls → authenticated → bound) and enforces which
elements each state admits; what to *do* with an element is the driver's business.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Callable, Iterator
from xml.sax.saxutils import quoteattr

from lxml import etree

from xmppcore import ns
from xmppcore.errors import StreamError
from xmppcore.jid import JID
from xmppcore.parser import Close, Element, Header, StreamParser

_STREAM_TAG = ns.q(ns.STREAM, "stream")
_STANZA_NAMES = frozenset(("message", "presence", "iq"))
_BIND_CHILD = ns.q(ns.BIND, "bind")
_SESSION_CHILD = ns.q(ns.SESSION, "session")


@dataclass(slots=True)
class StreamOpened:
    to: str | None
    from_: str | None
    version: str | None
    lang: str


@dataclass(slots=True)
class StartTLSRequested:
    element: etree._Element


@dataclass(slots=True)
class SaslReceived:
    element: etree._Element


@dataclass(slots=True)
class StanzaReceived:
    element: etree._Element


@dataclass(slots=True)
class NonzaReceived:
    """A top-level element that is neither a stanza nor TLS/SASL (e.g. XEP-0198 <r/>)."""

    element: etree._Element


@dataclass(slots=True)
class StreamClosed:
    """The peer closed its stream with </stream:stream>."""


StreamEvent = StreamOpened | StartTLSRequested | SaslReceived | StanzaReceived | NonzaReceived | StreamClosed


class TCPFraming:
    """RFC 6120 framing: one long-lived <stream:stream> document per direction."""

    def open_bytes(self, attrs: dict[str, str], content_ns: str) -> bytes:
        parts = "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())
        return (f"<?xml version='1.0'?><stream:stream xmlns={quoteattr(content_ns)}"
                f" xmlns:stream='{ns.STREAM}'{parts}>").encode()

    def close_bytes(self) -> bytes:
        return b"</stream:stream>"


class StreamMachine:
    """The receiving side of one stream (c2s or s2s), with its negotiation state."""

    def __init__(self, *, is_local_domain: Callable[[str], bool], content_ns: str = ns.CLIENT,
                 max_stanza_size: int = 262144, max_depth: int = 64,
                 framing: TCPFraming | None = None,
                 nonza_namespaces: frozenset[str] = frozenset(),
                 preauth_iq_namespaces: frozenset[str] = frozenset()) -> None:
        self.is_local_domain = is_local_domain
        self.content_ns = content_ns
        self.max_stanza_size = max_stanza_size
        self.max_depth = max_depth
        self.framing = framing or TCPFraming()
        self.nonza_namespaces = nonza_namespaces
        # XEP-0077 §3: in-band registration happens before authentication.
        self.preauth_iq_namespaces = preauth_iq_namespaces
        self.parser = StreamParser(max_stanza_size, max_depth)
        self.header_sent = False
        self.opened = False
        self.closed = False
        self.domain: str | None = None
        self.lang = "en"
        self.stream_id = ""
        self.is_secure = False
        self.jid: JID | None = None  # authenticated identity (bare until bound)
        self.is_bound = False

    # -- input ---------------------------------------------------------------
    def receive(self, data: bytes) -> list[StreamEvent]:
        """Parse `data`; all its events at once (raises StreamError when the stream must end)."""
        return list(self.iter_events(data))

    def iter_events(self, data: bytes) -> Iterator[StreamEvent]:
        """Parse `data` and yield its events; raises StreamError when the stream must end.

        Lazy on purpose: each element is checked against the state the driver reached
        after handling the previous one (a client may pipeline bind and its first stanza).
        """
        for ev in self.parser.feed(data):
            if isinstance(ev, Element):
                yield self._classify(ev.element)
            elif isinstance(ev, Header):
                yield self._on_header(ev.element)
            elif isinstance(ev, Close):
                self.closed = True
                yield StreamClosed()

    def restart(self) -> None:
        """RFC 6120 §4.3.3: after TLS and after SASL success both sides start a new stream."""
        self.parser = StreamParser(self.max_stanza_size, self.max_depth)
        self.opened = False
        self.header_sent = False

    def _on_header(self, root: etree._Element) -> StreamOpened:
        qname = etree.QName(root)
        # RFC 6120 §4.9.3.10: wrong streams namespace or content namespace.
        if root.tag != _STREAM_TAG or root.nsmap.get(None) != self.content_ns:
            raise StreamError("invalid-namespace", "expected a jabber stream")
        if qname.localname != "stream":
            raise StreamError("invalid-namespace")
        version = root.get("version")
        self.lang = root.get(ns.q(ns.XML, "lang")) or "en"
        # §4.7.5: we speak 1.x only; a missing version means pre-RFC XMPP 0.9.
        if version is None or version.split(".")[0] != "1":
            raise StreamError("unsupported-version", "XMPP 1.0 is required")
        to = root.get("to")
        if to is None:
            raise StreamError("host-unknown", "a 'to' attribute is required")
        try:
            domain = JID.parse(to).domain
        except ValueError:
            raise StreamError("host-unknown", "bad 'to' address") from None
        if not self.is_local_domain(domain) or JID.parse(to) != JID(None, domain, None):
            raise StreamError("host-unknown", "this server does not serve that domain")
        if self.domain is not None and domain != self.domain:
            raise StreamError("host-unknown", "domain changed on stream restart")
        self.domain = domain
        self.opened = True
        return StreamOpened(to, root.get("from"), version, self.lang)

    def _classify(self, el: etree._Element) -> StreamEvent:
        qname = etree.QName(el)
        namespace, name = qname.namespace, qname.localname
        if namespace == self.content_ns and name in _STANZA_NAMES:
            if self.jid is None:
                if name == "iq" and self._is_preauth_iq(el):
                    return StanzaReceived(el)
                raise StreamError("not-authorized", "authenticate first")
            if not self.is_bound and not (name == "iq" and self._is_bind_request(el)):
                raise StreamError("not-authorized", "bind a resource first")
            return StanzaReceived(el)
        if namespace == ns.TLS and name == "starttls":
            return StartTLSRequested(el)
        if namespace == ns.SASL and name in ("auth", "response", "abort"):
            if self.jid is not None:
                raise StreamError("unsupported-stanza-type", "already authenticated")
            return SaslReceived(el)
        if namespace in self.nonza_namespaces:
            return NonzaReceived(el)
        if namespace == self.content_ns or namespace is None:
            raise StreamError("unsupported-stanza-type", f"unknown element <{name}/>")
        if namespace == ns.STREAM and name == "error":
            raise StreamError("undefined-condition", "peer sent a stream error")
        raise StreamError("unsupported-stanza-type", f"unknown element <{name}/>")

    def _is_preauth_iq(self, el: etree._Element) -> bool:
        return len(el) == 1 and etree.QName(el[0]).namespace in self.preauth_iq_namespaces

    @staticmethod
    def _is_bind_request(el: etree._Element) -> bool:
        return any(child.tag in (_BIND_CHILD, _SESSION_CHILD) for child in el)

    # -- output --------------------------------------------------------------
    def open_bytes(self, from_domain: str | None = None) -> bytes:
        """Our response stream header (RFC 6120 §4.7)."""
        self.header_sent = True
        self.stream_id = secrets.token_urlsafe(12)
        attrs = {"id": self.stream_id, "version": "1.0", "xml:lang": "en"}
        domain = from_domain or self.domain
        if domain:
            attrs["from"] = domain
        return self.framing.open_bytes(attrs, self.content_ns)

    @staticmethod
    def element_bytes(el: etree._Element) -> bytes:
        return etree.tostring(el)

    def error_frames(self, error: StreamError, fallback_domain: str | None = None) -> list[bytes]:
        """The stream error, preceded by a header if none was sent yet (§4.9.1.2), then the
        close: one item per top-level element (a WebSocket sends each as one message)."""
        frames = [] if self.header_sent else [self.open_bytes(self.domain or fallback_domain)]
        self.closed = True
        frames.append(etree.tostring(error.to_element()))
        frames.append(self.framing.close_bytes())
        return frames

    def error_bytes(self, error: StreamError, fallback_domain: str | None = None) -> bytes:
        return b"".join(self.error_frames(error, fallback_domain))

    def close_bytes(self) -> bytes:
        return self.framing.close_bytes()
