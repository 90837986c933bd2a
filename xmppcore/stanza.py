"""A thin typed view over a stanza's lxml element, with its addresses parsed once."""

from __future__ import annotations

from typing import Any

from lxml import etree

from xmppcore import ns
from xmppcore.jid import JID


class Stanza:
    """What the router hands to handlers: the element plus parsed addressing."""

    __slots__ = ("el", "name", "type", "to", "from_", "id", "origin")

    def __init__(self, el: etree._Element, name: str, to: JID | None, from_: JID | None,
                 origin: Any = None) -> None:
        self.el = el
        self.name = name  # "message" | "presence" | "iq"
        self.type = el.get("type")
        self.to = to
        self.from_ = from_
        self.id = el.get("id")
        self.origin = origin  # the session it came from (c2s or s2s), or None for the server

    @property
    def payload(self) -> etree._Element | None:
        """The first child (an IQ's query element)."""
        return self.el[0] if len(self.el) else None

    def __repr__(self) -> str:
        return f"<Stanza {self.name} type={self.type} from={self.from_} to={self.to}>"


def make(name: str, *, to: JID | str | None = None, from_: JID | str | None = None,
         type_: str | None = None, id_: str | None = None, namespace: str = ns.CLIENT) -> etree._Element:
    """A new empty stanza element in the content namespace."""
    el = etree.Element(f"{{{namespace}}}{name}", nsmap={None: namespace})
    if id_ is not None:
        el.set("id", id_)
    if type_ is not None:
        el.set("type", type_)
    if to is not None:
        el.set("to", str(to))
    if from_ is not None:
        el.set("from", str(from_))
    return el


def iq_result(request: Stanza, payload: etree._Element | None = None) -> etree._Element:
    """RFC 6120 §8.2.3: a result to an IQ get/set, addressed back to the requester."""
    el = make("iq", type_="result", id_=request.id,
              to=request.from_, from_=request.to if request.to is not None else None)
    if payload is not None:
        el.append(payload)
    return el
