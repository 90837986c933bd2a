"""Stanza routing (RFC 6120 §8, §10): addresses → an event name → the modules' handlers.

Event names:
  message/{host,bare,full}, presence/{broadcast,host,bare,full},
  iq-{get,set}/{host,self,bare}/{namespace}:{name}, iq/full, iq-response,
  route/remote (a stanza for a domain this server does not host).
A stanza nobody handled gets the error RFC 6120 §8.3/§10 prescribes; errors are never
answered with errors.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lxml import etree

from xmppcore import ns
from xmppcore.errors import StanzaError, StreamError, error_reply
from xmppcore.jid import JID, InvalidJID
from xmppcore.stanza import Stanza

if TYPE_CHECKING:
    from xmppd.server import Server
    from xmppd.sessions import Session

log = logging.getLogger(__name__)
_NAMES = {ns.q(ns.CLIENT, "message"): "message", ns.q(ns.CLIENT, "presence"): "presence",
          ns.q(ns.CLIENT, "iq"): "iq"}
_IQ_TYPES = frozenset(("get", "set", "result", "error"))
_MESSAGE_TYPES = frozenset(("chat", "error", "groupchat", "headline", "normal"))
_PRESENCE_TYPES = frozenset(("error", "probe", "subscribe", "subscribed", "unavailable",
                             "unsubscribe", "unsubscribed"))


class Router:
    def __init__(self, server: "Server") -> None:
        self.server = server
        self.hooks = server.hooks

    async def route_from_client(self, el: etree._Element, session: "Session") -> None:
        """A stanza a bound client sent: stamp `from`, check it, dispatch it."""
        name = _NAMES[el.tag]
        claimed = el.get("from")
        # RFC 6120 §8.1.2.1: the server stamps the full JID; a client may only claim its own.
        if claimed is not None and claimed != str(session.jid):
            try:
                claimed_jid = JID.parse(claimed)
            except InvalidJID:
                claimed_jid = None
            if claimed_jid not in (session.jid, session.bare):
                raise StreamError("invalid-from", "you may only send from your own JID")
        el.set("from", str(session.jid))
        try:
            to_attr = el.get("to")
            to = JID.parse(to_attr) if to_attr is not None else None
            stanza = Stanza(el, name, to, session.jid, session)
            self._check_type(stanza)
        except InvalidJID:
            self.reply_error(el, session, StanzaError("jid-malformed", "bad 'to' address"))
            return
        except StanzaError as err:
            self.reply_error(el, session, err)
            return
        await self.dispatch(stanza)

    @staticmethod
    def _check_type(stanza: Stanza) -> None:
        t = stanza.type
        if stanza.name == "iq":
            if t not in _IQ_TYPES:
                raise StanzaError("bad-request", "an iq needs a valid type")
            if stanza.id is None:
                raise StanzaError("bad-request", "an iq needs an id")
            if t in ("get", "set") and len(stanza.el) != 1:
                raise StanzaError("bad-request", "an iq get/set has exactly one child")
        elif t is not None and t not in (_MESSAGE_TYPES if stanza.name == "message" else _PRESENCE_TYPES):
            raise StanzaError("bad-request", f"unknown {stanza.name} type")

    async def dispatch(self, stanza: Stanza) -> None:
        """Route a stanza whose `from` is already trustworthy (local client, s2s, or server)."""
        to = stanza.to
        try:
            if to is not None and not self.server.is_local_domain(to.domain):
                if await self.hooks.fire("route/remote", stanza) is None:
                    raise StanzaError("remote-server-not-found", "no route to that domain")
                return
            if stanza.name == "iq":
                await self._dispatch_iq(stanza)
            elif stanza.name == "message":
                await self._dispatch_simple(stanza, "message")
            else:
                await self._dispatch_simple(stanza, "presence")
        except StanzaError as err:
            self.reply_error(stanza.el, stanza.origin, err)
        except StreamError:
            raise
        except Exception:
            log.exception("error routing %r", stanza)
            self.reply_error(stanza.el, stanza.origin, StanzaError("internal-server-error"))

    async def _dispatch_simple(self, stanza: Stanza, kind: str) -> None:
        to = stanza.to
        if to is None:
            target = "broadcast" if kind == "presence" else "bare"
            if kind == "message":  # RFC 6121 §8.5.? : no 'to' means the sender's bare JID
                stanza.to = stanza.from_.bare if stanza.from_ else None
        elif to.local is None:
            target = "host" if to.resource is None else "host"
        elif to.resource is None:
            target = "bare"
        else:
            target = "full"
        if await self.hooks.fire(f"{kind}/{target}", stanza) is None:
            if kind == "message" or stanza.type in (None, "probe"):
                raise StanzaError("service-unavailable")
            # RFC 6121 §4.3 / §3: unhandled presence types are silently ignored.

    async def _dispatch_iq(self, stanza: Stanza) -> None:
        to = stanza.to
        t = stanza.type
        if t in ("result", "error"):
            await self._dispatch_iq_response(stanza)
            return
        child = stanza.el[0]
        key = child.tag[1:].replace("}", ":") if child.tag[0] == "{" else f":{child.tag}"
        origin_bare = stanza.from_.bare if stanza.from_ is not None else None
        if to is None or (to == origin_bare and stanza.origin is not None):
            scopes = ("self", "host") if to is None else ("self", "bare")
        elif to.local is None:
            scopes = ("host",) if to.resource is None else ("host",)
        elif to.resource is None:
            scopes = ("bare",)
        else:
            if await self.hooks.fire("iq/full", stanza) is None:
                raise StanzaError("service-unavailable")
            return
        for scope in scopes:
            handlers = self.hooks.handlers(f"iq-{t}/{scope}/{key}")
            if handlers:
                result = await self.hooks.fire(f"iq-{t}/{scope}/{key}", stanza)
                if result is not None:
                    if isinstance(result, etree._Element):
                        self.send_reply(stanza, result)
                    return
        raise StanzaError("service-unavailable", "no handler for this request")

    async def _dispatch_iq_response(self, stanza: Stanza) -> None:
        to = stanza.to
        if to is not None and to.resource is not None and to.local is not None:
            if await self.hooks.fire("iq/full", stanza) is None:
                pass  # RFC 6120 §8.5.3.2.1: a result/error to a gone resource is dropped
            return
        await self.hooks.fire("iq-response", stanza)

    def send_reply(self, request: Stanza, reply: etree._Element) -> None:
        """Send a server-generated reply back to whoever sent `request`."""
        origin = request.origin
        if origin is not None and hasattr(origin, "send"):
            origin.send(reply)
        else:
            self.server.hooks.fire_sync("deliver", reply)

    def reply_error(self, el: etree._Element, origin: object, err: StanzaError) -> None:
        reply = error_reply(el, err)
        if reply is None:
            return
        if origin is not None and hasattr(origin, "send"):
            origin.send(reply)
