"""Stanza routing (RFC 6120 §8, §10): one router per server, one send path, one bounce path.

`route(element, origin)` takes any stanza with trustworthy addresses; `route_from_client`
first stamps and checks what a bound client sent (§8.1.2.1). The router finds the *host*
of 'to' (xmppd/hosts.py): a user domain, a component (its own event bus), or nobody here
(`route/remote`, the s2s side). Events, in order (DESIGN.md "Hosts and components"):

  pre-{kind}/{target}   on the sender's host's bus, for stanzas of local senders (clients,
                        the server, components): sender-side work (carbons' sent copies,
                        privacy out, the archive, outbound subscriptions). A handler that
                        returns something other than None has taken the stanza.
  {kind}/{target}       on the receiver's host's bus:
      message/{host,bare,full}, presence/{broadcast,host,bare,full},
      iq-{get,set}/{host,self,bare}/{namespace}:{name}, iq/full, iq-response
  route/remote          on the server's bus: a stanza for a domain this server does not host

kind is message | presence | iq; target is the shape of 'to' (host, bare, full; no 'to':
broadcast for presence, bare for message, self for iq). A stanza nobody handled gets the
error RFC 6120 §8.3/§10 prescribes through `bounce`; errors are never answered with errors.
`send_iq` sends a server-generated IQ and returns a future of its answer.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import TYPE_CHECKING, Any

from lxml import etree

from xmppcore import ns
from xmppcore.errors import StanzaError, StreamError, error_reply
from xmppcore.jid import JID, InvalidJID
from xmppcore.stanza import Stanza
from xmppd.origin import LOCAL_SENDERS, SERVER

if TYPE_CHECKING:
    from xmppd.hosts import Host
    from xmppd.server import Server
    from xmppd.sessions import Session

log = logging.getLogger(__name__)
_NAMES = {ns.q(ns.CLIENT, "message"): "message", ns.q(ns.CLIENT, "presence"): "presence",
          ns.q(ns.CLIENT, "iq"): "iq"}
_IQ_TYPES = frozenset(("get", "set", "result", "error"))
_MESSAGE_TYPES = frozenset(("chat", "error", "groupchat", "headline", "normal"))
_PRESENCE_TYPES = frozenset(("error", "probe", "subscribe", "subscribed", "unavailable",
                             "unsubscribe", "unsubscribed"))
_NO_TO = {"message": "bare", "presence": "broadcast", "iq": "self"}
_TARGETS = ("host", "bare", "full", "broadcast", "self")
_PRE = {(kind, target): f"pre-{kind}/{target}" for kind in _NO_TO for target in _TARGETS}
_EVENTS = {(kind, target): f"{kind}/{target}" for kind in _NO_TO for target in _TARGETS}
_ids = itertools.count(1)


def target_of(kind: str, to: JID | None) -> str:
    """The shape of 'to' that names the event: host, bare, full (no 'to': see the docstring)."""
    if to is None:
        return _NO_TO[kind]
    if to.local is None:
        return "host"
    return "bare" if to.resource is None else "full"


class Router:
    def __init__(self, server: "Server") -> None:
        self.server = server
        self.hooks = server.hooks
        self.hosts = server.hosts
        self._pending: dict[str, tuple[asyncio.Future, JID | None]] = {}

    # -- ways in ------------------------------------------------------------------------------
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
            self.bounce_element(el, session, StanzaError("jid-malformed", "bad 'to' address"))
            return
        except StanzaError as err:
            self.bounce_element(el, session, err)
            return
        await self.dispatch(stanza)

    async def route(self, el: etree._Element, origin: Any = None, *, sender_side: bool = True) -> None:
        """Route a stanza the server, a component or a module made (addresses trusted).
        `origin` defaults to the host of 'from' (a ServerOrigin). `sender_side=False` for a
        stanza routed again (its sender side already ran: no `pre-*` events)."""
        try:
            to = JID.parse(el.get("to")) if el.get("to") is not None else None
            from_ = JID.parse(el.get("from")) if el.get("from") is not None else None
        except InvalidJID:
            log.warning("dropping a server-made stanza with a bad address: %s", etree.tostring(el)[:200])
            return
        if origin is None:
            origin = self.origin_of(from_)
        await self.dispatch(Stanza(el, etree.QName(el).localname, to, from_, origin), sender_side)

    def route_soon(self, el: etree._Element, origin: Any = None) -> None:
        """`route` from synchronous code (a task on the running loop)."""
        asyncio.get_running_loop().create_task(self.route(el, origin))

    def origin_of(self, jid: JID | None) -> Any:
        host = self.hosts.get(jid.domain) if jid is not None else None
        return host.origin if host is not None else None

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

    # -- dispatch -------------------------------------------------------------------------------
    async def dispatch(self, stanza: Stanza, sender_side: bool = True) -> None:
        """Route a stanza whose `from` is already trustworthy (local client, s2s, or server)."""
        try:
            kind = stanza.name
            to = stanza.to
            if to is None and kind == "message" and stanza.from_ is not None:
                to = stanza.to = stanza.from_.bare  # RFC 6121 §8.1.1.1: the sender's own bare JID
            target = target_of(kind, to)
            origin = stanza.origin
            if sender_side and origin is not None and origin.kind in LOCAL_SENDERS:
                bus = self.hooks if origin.kind != SERVER else origin.hooks
                event = _PRE[kind, target]
                if bus.handlers(event) and await bus.fire(event, stanza) is not None:
                    return
            host = self.hosts.get((to or stanza.from_).domain) if (to or stanza.from_) else None
            if host is None:
                if to is not None:  # not a host of ours: another server's (s2s)
                    if await self.hooks.fire("route/remote", stanza) is None:
                        raise StanzaError("remote-server-not-found", "no route to that domain")
                    return
                raise StanzaError("service-unavailable")
            if kind == "iq":
                await self._dispatch_iq(stanza, host)
            elif await host.hooks.fire(_EVENTS[kind, target], stanza) is None:
                if kind == "message" or stanza.type in (None, "probe"):
                    raise StanzaError("service-unavailable")
                # RFC 6121 §4.3 / §3: unhandled presence types are silently ignored.
        except StanzaError as err:
            self.bounce(stanza, err)
        except StreamError:
            raise
        except Exception:
            log.exception("error routing %r", stanza)
            self.bounce(stanza, StanzaError("internal-server-error"))

    async def _dispatch_iq(self, stanza: Stanza, host: "Host") -> None:
        to = stanza.to
        t = stanza.type
        if t in ("result", "error"):
            await self._dispatch_iq_response(stanza, host)
            return
        child = stanza.el[0]
        key = child.tag[1:].replace("}", ":") if child.tag[0] == "{" else f":{child.tag}"
        origin_bare = stanza.from_.bare if stanza.from_ is not None else None
        if to is None or (to == origin_bare and stanza.origin is not None):
            scopes = ("self", "host") if to is None else ("self", "bare")
        elif to.local is None:
            scopes = ("host",)
        elif to.resource is None:
            scopes = ("bare",)
        else:
            if await host.hooks.fire("iq/full", stanza) is None:
                raise StanzaError("service-unavailable")
            return
        bus = host.hooks
        for scope in scopes:
            event = f"iq-{t}/{scope}/{key}"
            if bus.handlers(event):
                result = await bus.fire(event, stanza)
                if result is not None:
                    if isinstance(result, etree._Element):
                        self.reply(stanza, result)
                    return
        raise StanzaError("service-unavailable", "no handler for this request")

    async def _dispatch_iq_response(self, stanza: Stanza, host: "Host") -> None:
        to = stanza.to
        if to is not None and to.resource is not None and to.local is not None:
            if await host.hooks.fire("iq/full", stanza) is None:
                pass  # RFC 6120 §8.5.3.2.1: a result/error to a gone resource is dropped
            return
        if self._answer_pending(stanza):
            return
        await host.hooks.fire("iq-response", stanza)

    # -- server-made IQs and their answers -------------------------------------------------------
    def send_iq(self, el: etree._Element, timeout: float = 30.0, origin: Any = None) -> asyncio.Future:
        """Send an IQ get/set from the server or a component; the future gets the answer's
        element (type result) or raises StanzaError (type error, or remote-server-timeout
        when nothing came back within `timeout`)."""
        if el.get("id") is None:
            el.set("id", f"s{next(_ids)}")
        iq_id = el.get("id")
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()
        to = JID.parse(el.get("to")) if el.get("to") is not None else None
        self._pending[iq_id] = (future, to)
        timer = loop.call_later(timeout, self._expire, iq_id)
        future.add_done_callback(lambda _f: (timer.cancel(), self._forget(iq_id, future)))
        self.route_soon(el, origin)
        return future

    def _forget(self, iq_id: str, future: asyncio.Future) -> None:
        entry = self._pending.get(iq_id)
        if entry is not None and entry[0] is future:
            del self._pending[iq_id]

    def _expire(self, iq_id: str) -> None:
        entry = self._pending.get(iq_id)
        if entry is not None and not entry[0].done():
            entry[0].set_exception(StanzaError("remote-server-timeout", "no answer in time"))

    def _answer_pending(self, stanza: Stanza) -> bool:
        entry = self._pending.get(stanza.id) if stanza.id is not None else None
        if entry is None:
            return False
        future, asked = entry
        answered_by = stanza.from_
        # RFC 6120 §8.2.3: the answer comes from the entity asked (a bare JID may be answered
        # by its server for the account, or by a resource).
        if asked is not None and answered_by is not None and answered_by != asked \
                and answered_by.bare != asked.bare and answered_by != JID(None, asked.domain, None):
            return False
        if not future.done():
            if stanza.type == "error":
                future.set_exception(_stanza_error(stanza.el))
            else:
                future.set_result(stanza.el)
        return True

    # -- answers and errors (the one bounce path) ---------------------------------------------
    def reply(self, request: Stanza, reply: etree._Element) -> None:
        """Send a server-generated reply back to whoever sent `request`."""
        self._to_sender(request.origin, request.from_, reply)

    def bounce(self, stanza: Stanza, err: StanzaError) -> None:
        """RFC 6120 §8.3: answer an undeliverable or refused stanza with an error to its sender."""
        self.bounce_element(stanza.el, stanza.origin, err, stanza.from_)

    def bounce_element(self, el: etree._Element, origin: Any, err: StanzaError,
                       sender: JID | None = None) -> None:
        reply = error_reply(el, err)
        if reply is not None:
            self._to_sender(origin, sender, reply)

    def _to_sender(self, origin: Any, sender: JID | None, reply: etree._Element) -> None:
        if origin is not None and not getattr(origin, "is_closed", False):
            origin.send(reply)
        elif sender is not None and sender.resource is not None:
            session = self.server.sessions.by_full.get(sender)
            if session is not None and not session.is_closed:
                session.send(reply)


def _stanza_error(el: etree._Element) -> StanzaError:
    """The StanzaError an <iq type='error'/> carries (RFC 6120 §8.3.2)."""
    error = el.find(ns.q(ns.CLIENT, "error"))
    condition = "undefined-condition"
    if error is not None:
        for child in error:
            if isinstance(child.tag, str) and child.tag.startswith("{" + ns.STANZAS):
                name = etree.QName(child).localname
                if name != "text":
                    condition = name
                    break
    try:
        return StanzaError(condition)
    except AssertionError:
        return StanzaError("undefined-condition")
