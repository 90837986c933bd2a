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
                 "_amp_tail", "_closed", "_default_ns")

    def __init__(self, max_stanza_size: int = 262144, max_depth: int = 64) -> None:
        self._parser = etree.XMLPullParser(
            events=("start", "end", "comment", "pi"),
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
            remove_blank_text=False, encoding="utf-8",
        )
        self._root: etree._Element | None = None
        self._depth = 0
        self._pending = 0  # bytes fed since depth last returned to the stream level
        self._max_size = max_stanza_size
        self._max_depth = max_depth
        self._amp_tail = b""
        self._closed = False
        self._default_ns: str | None = None

    def feed(self, data: bytes) -> list[ParseEvent]:
        if self._closed or not data:
            return []
        self._check_restricted(data)
        # A whole oversized stanza can arrive in one chunk; only then is measuring worth it.
        measure = self._pending + len(data) > self._max_size
        try:
            self._parser.feed(data)
            events = self._collect(measure)
        except etree.XMLSyntaxError as exc:
            raise StreamError("not-well-formed", _syntax_text(exc)) from None
        if self._depth > 1:  # inside a stanza (depth 1 is the stream element)
            self._pending += len(data)
            # §13.12: a stanza bigger than our limit is a policy violation.
            if self._pending > self._max_size:
                raise StreamError("policy-violation", "stanza too large")
        else:
            self._pending = 0
        if self._root is not None and self._root.text:
            self._root.text = None  # whitespace keepalives between stanzas
        return events

    def _collect(self, measure: bool = False) -> list[ParseEvent]:
        out: list[ParseEvent] = []
        for kind, el in self._parser.read_events():
            if kind == "start":
                self._depth += 1
                if self._depth == 1:
                    self._root = el
                    self._default_ns = el.nsmap.get(None)
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

    def _check_restricted(self, data: bytes) -> None:
        # libxml2 accepts DTDs and silently keeps unknown entities; RFC 6120 §11.1 does not.
        if b"<!" in data:
            for m in re.finditer(rb"<!(\[CDATA\[|--|[A-Za-z]*)", data):
                if m.group(1) != b"[CDATA[":
                    raise StreamError("restricted-xml", "DTDs and comments are not allowed")
        if self._root is None and b"<?" in data:
            m = _ENCODING_DECL.search(data)
            if m and m.group(1).lower().replace(b"-", b"") != b"utf8":
                raise StreamError("unsupported-encoding", "only UTF-8 is supported")
        if b"&" in data or self._amp_tail:
            buf = self._amp_tail + data
            m = _ENTITY_REF.search(buf)
            if m:
                raise StreamError("restricted-xml", "entity references are not allowed")
            amp = buf.rfind(b"&")
            tail = buf[amp:] if amp >= 0 else b""
            self._amp_tail = tail if (b";" not in tail and len(tail) < 64) else b""


def _syntax_text(exc: etree.XMLSyntaxError) -> str:
    msg = str(exc.msg or exc)
    return msg.split(", line")[0][:200]
