"""Incremental, restricted XML parsing of one stream (RFC 6120 §11).

Wraps lxml's XMLPullParser. Yields the stream header, each complete depth-1 element
and the stream close; raises `StreamError` for anything §11.1 forbids (DTDs, comments,
processing instructions, non-predefined entities), for ill-formed input, and for the
size and depth limits this server sets (§13.12 "resource exhaustion").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from xmppcore.errors import StreamError

_ENTITY_REF = re.compile(rb"&(?!(?:lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)([A-Za-z_:][\w.:-]*);")
_ENCODING_DECL = re.compile(rb"<\?xml[^>]*encoding\s*=\s*['\"]([^'\"]+)['\"]", re.I)
_CDATA = b"[CDATA["
# The stream header is a few hundred bytes; anything near this is an attack on the parser.
MAX_HEADER_SIZE = 8192


@dataclass(slots=True)
class Header:
    """The stream's root element as opened (attributes already namespace-resolved)."""

    element: etree._Element


@dataclass(slots=True)
class Element:
    """A complete depth-1 element (a stanza or a negotiation element)."""

    element: etree._Element


@dataclass(slots=True)
class Close:
    """The peer sent </stream:stream>."""


ParseEvent = Header | Element | Close


class StreamParser:
    """Feed bytes, get `ParseEvent`s. One instance per stream; restart = a new instance."""

    __slots__ = ("_parser", "_root", "_depth", "_pending", "_max_size", "_max_depth",
                 "_amp_tail", "_bang_tail", "_saw_amp", "_closed", "_default_ns", "_max_header")

    def __init__(self, max_stanza_size: int = 262144, max_depth: int = 64,
                 max_header_size: int = MAX_HEADER_SIZE) -> None:
        self._parser = etree.XMLPullParser(
            events=("start", "end", "comment", "pi"),
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
            remove_blank_text=False, encoding="utf-8",
        )
        self._root: etree._Element | None = None
        self._depth = 0
        self._pending = 0  # bytes fed since the last complete event, at any depth
        self._max_size = max_stanza_size
        self._max_depth = max_depth
        self._max_header = max_header_size
        self._amp_tail = b""
        self._bang_tail = b""  # an unfinished "<![CDATA[" at the end of the last chunk
        self._saw_amp = False  # an '&' came in an element still being read: check for entities
        self._closed = False
        self._default_ns: str | None = None

    def feed(self, data: bytes) -> list[ParseEvent]:
        if self._closed or not data:
            return []
        self._check_restricted(data)
        # A whole oversized stanza can arrive in one chunk; only then is measuring worth it.
        measure = self._pending + len(data) > self._max_size
        if self._root is None and self._pending + len(data) > self._max_header:
            measure = True
        try:
            self._parser.feed(data)
            events = self._collect(measure)
        except etree.XMLSyntaxError as exc:
            raise StreamError("not-well-formed", _syntax_text(exc)) from None
        self._count(data, bool(events))
        if self._depth <= 1:
            self._saw_amp = False  # every element since the '&' was checked
        if self._root is not None and self._root.text:
            self._root.text = None  # whitespace keepalives between stanzas
        return events

    def _count(self, data: bytes, progressed: bool) -> None:
        """RFC 6120 §13.12: bound what libxml2 holds between two complete events — an
        unfinished start tag, attribute, name, namespace list, CDATA or text, at any depth,
        before and after authentication — by the stanza limit (the header by its own)."""
        if not progressed:
            if self._pending or data.strip():  # whitespace between stanzas is free (keepalives)
                self._pending += len(data)
        elif self._depth > 1:
            self._pending = self._unfinished(data)
        else:  # what follows the last '>' may be a start tag in progress; whitespace is free
            rest = data[data.rfind(b">") + 1:]
            self._pending = len(rest) if rest.strip() else 0
        if self._root is None:
            if self._pending > self._max_header:
                raise StreamError("policy-violation", "stream header too large")
        elif self._pending > self._max_size:
            raise StreamError("policy-violation", "stanza too large")

    def _unfinished(self, data: bytes) -> int:
        """Bytes of `data` from the start tag of the stanza still open (it began in this
        chunk, after the last complete one); at worst the whole chunk."""
        open_el = self._root[-1] if self._root is not None and len(self._root) else None
        if open_el is None:
            return len(data)
        name = open_el.tag.rpartition("}")[2].encode()
        at = data.rfind(b"<", 0, max(data.rfind(name), 0))
        return len(data) - at if at >= 0 else len(data)

    def _collect(self, measure: bool = False) -> list[ParseEvent]:
        out: list[ParseEvent] = []
        for kind, el in self._parser.read_events():
            if kind == "start":
                self._depth += 1
                if self._depth == 1:
                    self._root = el
                    self._default_ns = el.nsmap.get(None)
                    if measure and _header_size(el) > self._max_header:
                        raise StreamError("policy-violation", "stream header too large")
                    out.append(Header(el))
                elif self._depth > self._max_depth:
                    raise StreamError("policy-violation", "elements nested too deeply")
            elif kind == "end":
                self._depth -= 1
                if self._depth == 1:
                    self._detach(el)  # memory stays flat over a long stream
                    el.tail = None
                    if measure and len(etree.tostring(el)) > self._max_size:
                        raise StreamError("policy-violation", "stanza too large")
                    if self._saw_amp:
                        self._check_entities(el)
                    out.append(Element(el))
                elif self._depth == 0:
                    self._closed = True
                    out.append(Close())
                    break
            else:  # §11.1: comments and processing instructions are forbidden
                raise StreamError("restricted-xml", f"{kind} not allowed")
        return out

    def _detach(self, el: etree._Element) -> None:
        """Take a depth-1 element off the stream root.

        Removed on its own, an element in the stream's default namespace would get that
        namespace re-declared with a generated prefix (<ns0:message xmlns:ns0='jabber:client'>),
        which RFC 6120 §4.8.5 forbids for the content namespace and which web clients cannot
        read. So such an element moves under a bare holder that declares it as the default.
        """
        default = self._default_ns
        if default is not None and el.tag.startswith("{" + default + "}"):
            etree.Element(el.tag, nsmap={None: default}).append(el)
        else:
            self._root.remove(el)

    def _check_entities(self, el: etree._Element) -> None:
        # §11.1: whatever slipped past the byte scan, an entity node left in a parsed
        # element means the peer used an entity we never defined.
        for _ in el.iter(etree.Entity):
            raise StreamError("restricted-xml", "entity references are not allowed")

    def _check_bang(self, data: bytes) -> None:
        """§11.1: no DTD, no comment; only CDATA may follow '<!' — even split over reads."""
        buf = self._bang_tail + data
        self._bang_tail = b""
        start = buf.find(b"<!")
        while start >= 0:
            rest = buf[start + 2:start + 2 + len(_CDATA)]
            if rest != _CDATA:
                if start + 2 + len(rest) == len(buf) and _CDATA.startswith(rest):
                    self._bang_tail = buf[start:]  # wait for the next chunk to decide
                    return
                raise StreamError("restricted-xml", "DTDs and comments are not allowed")
            start = buf.find(b"<!", start + 2)

    def _check_restricted(self, data: bytes) -> None:
        # libxml2 accepts DTDs and silently keeps unknown entities; RFC 6120 §11.1 does not.
        if self._bang_tail or b"<!" in data or data.endswith(b"<"):
            self._check_bang(data)
            if data.endswith(b"<"):
                self._bang_tail = self._bang_tail or b"<"
        if self._root is None and b"<?" in data:
            m = _ENCODING_DECL.search(data)
            if m and m.group(1).lower().replace(b"-", b"") != b"utf8":
                raise StreamError("unsupported-encoding", "only UTF-8 is supported")
        if b"&" in data or self._amp_tail:
            self._saw_amp = True
            buf = self._amp_tail + data
            m = _ENTITY_REF.search(buf)
            if m:
                raise StreamError("restricted-xml", "entity references are not allowed")
            amp = buf.rfind(b"&")
            tail = buf[amp:] if amp >= 0 else b""
            self._amp_tail = tail if (b";" not in tail and len(tail) < 64) else b""


def _header_size(root: etree._Element) -> int:
    """At least the bytes of the root's start tag: its attributes and namespaces."""
    pairs = list(root.attrib.items()) + [(k or "", v) for k, v in root.nsmap.items()]
    return sum(len(k) + len(v) + 4 for k, v in pairs)


def _syntax_text(exc: etree.XMLSyntaxError) -> str:
    msg = str(exc.msg or exc)
    return msg.split(", line")[0][:200]
