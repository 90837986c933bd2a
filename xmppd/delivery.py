"""Delivery: the last step of routing (DESIGN.md "One message, TCP in, WebSocket out").

Local sessions get a direct call. A stanza that cannot be delivered is offered to
the `message/offline` hook (the offline store) or bounced with an error through
`Router.bounce` (the one bounce path): never dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from xmppcore.errors import StanzaError, error_reply
from xmppcore.jid import JID
from xmppcore import ns
from xmppcore.stanza import Stanza, iq_result
from xmppd.priorities import DELIVER

if TYPE_CHECKING:
    from xmppd.server import Server
    from xmppd.sessions import Session


def to_session(session: "Session", el: etree._Element) -> bool:
    return session.send(el)


def to_full(server: "Server", jid: JID, el: etree._Element) -> bool:
    """Deliver to one bound resource of this process; False when it is not here."""
    session = server.sessions.by_full.get(jid)
    if session is None or session.is_closed:
        return False
    return session.send(el)


def deliver_to_resources(server: "Server", sessions: list["Session"], el: etree._Element) -> int:
    """Write one stanza to several sessions, serializing it once."""
    data = etree.tostring(el)
    delivered = 0
    for session in sessions:
        if session.send_bytes(data):
            delivered += 1
    return delivered


_OUTPUT_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


async def salvage(server: "Server", leftover: list[bytes]) -> None:
    """Stanzas a transport took but never handed to its client (a BOSH session that ended,
    a TCP connection that died with output unsent; XEP-0206 §8, as RFC 6121 §8.5.3.2.1 for a
    resource that is gone): messages are routed again — to another resource or the offline
    store —, requests get service-unavailable, presence is dropped."""
    for data in leftover:
        try:
            el = etree.fromstring(data, _OUTPUT_PARSER)
        except etree.XMLSyntaxError:
            continue
        tag = etree.QName(el)
        if tag.namespace != ns.CLIENT or tag.localname not in ("message", "iq") or el.get("type") == "error":
            continue  # RFC 6120 §8.3.1: errors are never answered with errors
        if tag.localname == "iq":
            if el.get("type") not in ("get", "set"):
                continue  # a result for a gone resource is dropped, as iq/full does
            el = error_reply(el, StanzaError("service-unavailable"))
        if el is not None:
            await server.router.route(el, sender_side=False)


def register_core_hooks(server: "Server") -> None:
    """Routing every server does regardless of modules: IQs to a full JID (RFC 6120 §10.5.4)."""

    def iq_full(stanza: Stanza) -> bool | None:
        if to_full(server, stanza.to, stanza.el):
            return True
        if stanza.type in ("get", "set"):  # RFC 6121 §8.5.3.2.1 / RFC 6120 §10.5.3.2
            raise StanzaError("service-unavailable")
        return True  # a result/error for a gone resource is silently dropped

    server.hooks.add("iq/full", iq_full, DELIVER)

    def legacy_session(stanza: Stanza) -> etree._Element:
        # RFC 6121 (errata) / RFC 3921 §3: <session/> after binding is a no-op answered with a result.
        return iq_result(stanza)

    for scope in ("self", "host"):
        server.hooks.add(f"iq-set/{scope}/{ns.SESSION}:session", legacy_session)
