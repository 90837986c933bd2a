"""XEP-0124 (BOSH) and XEP-0206 on the wire: parsing a request `<body/>`, building the
response `<body/>`, the terminal binding conditions, and the stream machine's framing.

Pure functions and value objects; `xmppcore.bosh.session` holds the session state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Sequence

from lxml import etree

from xmppcore import ns
from xmppcore.errors import StreamError
from xmppcore.parser import Close, Element, Header, StreamParser

VERSION: Final = (1, 11)  # XEP-0124 §7.1 'ver': the highest BOSH version we speak
MAX_RID: Final = 2**53 - 1  # XEP-0124 §14.1
CONTENT_TYPE: Final = "text/xml; charset=utf-8"  # XEP-0124 §7.1: when the client names none
STREAM_CLOSE: Final = b"</stream:stream>"

_BODY = ns.q(ns.BOSH, "body")
XML_LANG = ns.q(ns.XML, "lang")
XBOSH_VERSION = ns.q(ns.XBOSH, "version")
_XBOSH_RESTART = ns.q(ns.XBOSH, "restart")
XBOSH_RESTARTLOGIC = ns.q(ns.XBOSH, "restartlogic")

# XEP-0124 §17.2: terminal binding conditions.
CONDITIONS: Final = frozenset({
    "bad-request", "host-gone", "host-unknown", "improper-addressing", "internal-server-error",
    "item-not-found", "other-request", "policy-violation", "remote-connection-failed",
    "remote-stream-error", "see-other-uri", "system-shutdown", "undefined-condition",
})
# XEP-0124 §17.1: the deprecated HTTP codes these conditions replace, used only with a
# legacy client (one whose session creation request had no 'ver').
LEGACY_STATUS: Final = {"bad-request": 400, "policy-violation": 403, "item-not-found": 404}


class BoshError(Exception):
    """A request that ends the session with a terminal binding condition (XEP-0124 §17.2)."""

    def __init__(self, condition: str, text: str | None = None) -> None:
        assert condition in CONDITIONS, condition
        super().__init__(f"{condition}: {text}" if text else condition)
        self.condition = condition
        self.text = text


@dataclass(frozen=True, slots=True)
class Limits:
    """The server's side of the negotiation (seconds); a client may ask for less, never more."""

    max_wait: int = 60
    max_hold: int = 1
    max_inactivity: int = 60
    polling: int = 2
    max_pause: int = 120  # 0: pausing is not offered (no 'maxpause')
    max_cached: int = 16  # responses kept for retransmission when the client acknowledges
    report_after: float = 1.0  # XEP-0124 §9.2: unacknowledged this long → 'report'
    max_outbox: int = 8 * 1024 * 1024  # bytes queued for a client that does not come: as TCP


@dataclass(frozen=True, slots=True)
class Response:
    """One HTTP response: a `<body/>` and its status (200 but for legacy clients)."""

    body: bytes
    status: int = 200
    content_type: str = CONTENT_TYPE


# -- requests ----------------------------------------------------------------------

@dataclass(slots=True)
class Request:
    """A parsed `<body/>` request: its attributes (Clark names) and its payloads, each one
    serialized element, in order."""

    attrs: dict[str, str]
    payloads: list[bytes]
    rid: int

    @property
    def sid(self) -> str | None:
        return self.attrs.get("sid")

    @property
    def type(self) -> str | None:
        return self.attrs.get("type")

    @property
    def is_restart(self) -> bool:
        return self.attrs.get(_XBOSH_RESTART) in ("true", "1")  # XEP-0206 §5 (xs:boolean)

    @property
    def is_terminate(self) -> bool:
        return self.type == "terminate"

    @property
    def ack(self) -> int | None:
        return int_attr(self.attrs, "ack")

    @property
    def pause(self) -> int | None:
        return int_attr(self.attrs, "pause")

    @property
    def is_empty(self) -> bool:
        """Nothing for the server: a poll (XEP-0124 §12 counts these)."""
        return not self.payloads and not self.is_restart and self.type is None and "pause" not in self.attrs


def int_attr(attrs: dict[str, str], name: str, limit: int = MAX_RID) -> int | None:
    value = attrs.get(name)
    if value is None:
        return None
    if not value.isdigit() or len(value) > 16 or int(value) > limit:
        raise BoshError("bad-request", f"'{name}' must be a non-negative integer")
    return int(value)


def parse_request(data: bytes, max_stanza_size: int = 262144, max_depth: int = 64) -> Request:
    """Parse one HTTP request body: a `<body/>` in the httpbind namespace (XEP-0124 §4).

    The same restricted parser as a TCP stream (RFC 6120 §11: no DTD, comments, PIs or
    entities; the stanza size and depth limits), so a payload is exactly what the stream
    machine would accept. Raises BoshError('bad-request') (or 'policy-violation' for a
    stanza over the size limit).
    """
    parser = StreamParser(max_stanza_size, max_depth + 1)  # +1: stanzas sit inside <body/>
    try:
        events = parser.feed(data)
    except StreamError as err:
        condition = "policy-violation" if err.condition == "policy-violation" else "bad-request"
        raise BoshError(condition, err.text) from None
    if not events or not isinstance(events[0], Header):
        raise BoshError("bad-request", "empty request")
    root = events[0].element
    if root.tag != _BODY:
        raise BoshError("bad-request", f"expected <body xmlns='{ns.BOSH}'/>")
    if not isinstance(events[-1], Close):
        raise BoshError("bad-request", "incomplete <body/>")
    attrs = dict(root.attrib)
    rid = int_attr(attrs, "rid")
    if rid is None or rid == 0:
        raise BoshError("bad-request", "'rid' is required")
    payloads = [_payload_bytes(ev.element) for ev in events if isinstance(ev, Element)]
    return Request(attrs, payloads, rid)


def _payload_bytes(el: etree._Element) -> bytes:
    # XEP-0206 §3 note: many clients leave stanzas in the httpbind default namespace,
    # treating jabber:client as a subset of it; they mean jabber:client.
    if etree.QName(el).namespace == ns.BOSH:
        el = _rehome(el, None)
    return etree.tostring(el)


def _rehome(el: etree._Element, parent: etree._Element | None) -> etree._Element:
    """A copy of `el` with every httpbind-qualified element moved to jabber:client."""
    qname = etree.QName(el)
    tag = ns.q(ns.CLIENT, qname.localname) if qname.namespace == ns.BOSH else el.tag
    nsmap = {prefix: ns.CLIENT if uri == ns.BOSH else uri for prefix, uri in el.nsmap.items()}
    if parent is None:
        copy = etree.Element(tag, dict(el.attrib), nsmap=nsmap)
    else:
        copy = etree.SubElement(parent, tag, dict(el.attrib), nsmap=nsmap)
        copy.tail = el.tail
    copy.text = el.text
    for child in el:
        if isinstance(child.tag, str):
            _rehome(child, copy)
    return copy


# -- the stream machine's side ------------------------------------------------------

class BoshFraming:
    """XEP-0206 framing for `xmppcore.stream.StreamMachine`: nothing on the wire for the
    stream header and close; the header's attributes are kept for the session creation
    response ('authid', 'from', XEP-0206 §4)."""

    __slots__ = ("stream_attrs",)

    def __init__(self) -> None:
        self.stream_attrs: dict[str, str] = {}

    def open_bytes(self, attrs: dict[str, str], content_ns: str) -> bytes:
        self.stream_attrs = dict(attrs)
        return b""

    def close_bytes(self) -> bytes:
        return b""


def stream_header(to: str, lang: str | None = None, version: str = "1.0",
                  from_: str | None = None) -> bytes:
    """The `<stream:stream>` start tag a BOSH session stands for (XEP-0206 §4, §5)."""
    header = etree.Element(ns.q(ns.STREAM, "stream"), nsmap={None: ns.CLIENT, "stream": ns.STREAM})
    header.set("to", to)
    header.set("version", version)
    if lang:
        header.set(XML_LANG, lang)
    if from_:
        header.set("from", from_)
    return etree.tostring(header)[:-2] + b">"  # serialized empty: keep the start tag only


def body_bytes(attrs: dict[str, str], payloads: Sequence[bytes] = ()) -> bytes:
    """A response `<body/>` around already serialized elements."""
    nsmap: dict[str | None, str] = {None: ns.BOSH}
    if any(name.startswith("{" + ns.XBOSH) for name in attrs):
        nsmap["xmpp"] = ns.XBOSH
    # XEP-0206 §3: a body carrying stream features or a stream error declares the prefix.
    if any(p.startswith(b"<stream:") for p in payloads):
        nsmap["stream"] = ns.STREAM
    el = etree.Element(_BODY, nsmap=nsmap)
    for name, value in attrs.items():
        el.set(name, value)
    empty = etree.tostring(el)
    if not payloads:
        return empty
    # Each payload is one element the stream machine serialized already (one per write):
    # splice them in instead of parsing every outgoing stanza again.
    return empty[:-2] + b">" + b"".join(payloads) + b"</body>"


def terminal_response(condition: str, *, legacy: bool = False, payloads: Sequence[bytes] = (),
                      content_type: str = CONTENT_TYPE) -> Response:
    """`<body type='terminate' condition=…/>` (XEP-0124 §17.2), or the deprecated HTTP
    status for a legacy client (§17.1)."""
    status = LEGACY_STATUS.get(condition, 200) if legacy else 200
    return Response(body_bytes({"type": "terminate", "condition": condition}, payloads), status, content_type)
