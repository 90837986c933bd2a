"""RFC 6121 §4: presence — initial, subsequent and unavailable broadcast, probes, directed presence.

Every decision reads the roster in memory (`rosters.store`) and the session table: no
database query on this path (DESIGN.md). Probes for local contacts are answered straight
from the contacts' sessions (§4.3.2) without a probe stanza on the wire.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import TYPE_CHECKING, Awaitable, Callable

from lxml import etree

from rosters.store import DIRECTED, RosterStore, UserRoster, directed_targets
from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.jid import JID
from xmppcore.stanza import Stanza, make
from xmppd.origin import CLIENT
from xmppd.sessions import Session

log = logging.getLogger(__name__)
# Stored XML read back (RFC 6120 §11.1): entities, DTDs and network off.
_STORED = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)

if TYPE_CHECKING:
    from xmppd.server import Server

_PRIORITY = ns.q(ns.CLIENT, "priority")
_INTEGER = re.compile(r"[+-]?[0-9]+")


def parse_priority(el: etree._Element) -> int:
    """RFC 6121 §4.7.2.3: an integer from -128 to +127, 0 when absent."""
    text = el.findtext(_PRIORITY)
    if text is None:
        return 0
    text = text.strip()
    if not _INTEGER.fullmatch(text) or not -128 <= int(text) <= 127:
        raise StanzaError("bad-request", "<priority/> is an integer from -128 to 127")
    return int(text)


def serialize_to(el: etree._Element, to: JID) -> bytes:
    """The stanza's bytes addressed to `to`, leaving the element as it was (no copy)."""
    previous = el.get("to")
    el.set("to", str(to))
    try:
        return etree.tostring(el)
    finally:
        if previous is None:
            del el.attrib["to"]
        else:
            el.set("to", previous)


def outbound_session(stanza: Stanza) -> Session | None:
    """The local session that sent `stanza`, or None for inbound (s2s) or server stanzas."""
    origin = stanza.origin
    if origin is not None and origin.kind == CLIENT and stanza.from_ == origin.jid:
        return origin
    return None


class Presence:
    """Presence routing for local users."""

    def __init__(self, server: "Server", store: RosterStore) -> None:
        self.server = server
        self.store = store
        self.sessions = server.sessions
        # Set by rosters.subscriptions: answer `unsubscribed` from the first JID to the second.
        self.deny: Callable[[JID, JID], Awaitable[None]] | None = None

    # -- sending -----------------------------------------------------------------------
    def is_local(self, jid: JID) -> bool:
        return self.server.is_local_domain(jid.domain)

    async def route_remote(self, el: etree._Element) -> bool:
        """Hand a stanza for an address that is not a local user (another domain: s2s; a
        component host) on; its sender's side has run already. False: no route to that domain."""
        to = JID.parse(el.get("to"))
        if to.domain in self.server.hosts:
            await self.server.router.route(el, sender_side=False)
            return True
        stanza = Stanza(el, "presence", to, JID.parse(el.get("from")))
        return await self.server.hooks.fire("route/remote", stanza) is not None

    def deliver_local(self, to: JID, data: bytes) -> int:
        """§8.5.2.1.3 / §8.5.3.1: a bare JID's available resources, or the one full JID."""
        if to.resource is not None:
            session = self.sessions.get(to)
            return int(session is not None and session.send_bytes(data))
        return sum(1 for s in self.sessions.available(to) if s.send_bytes(data))

    async def send(self, el: etree._Element, to: JID) -> None:
        """Send `el` (which has its 'from') to `to`, wherever it is; `el` is not modified."""
        if not self.is_local(to):
            routed = copy.deepcopy(el)
            routed.set("to", str(to))
            await self.route_remote(routed)
        elif to.local is not None:
            self.deliver_local(to, serialize_to(el, to))

    async def changed(self, session: Session) -> None:
        """Hook session/presence-changed: availability, priority, last presence or interest
        changed (the cluster replicates them to the other nodes)."""
        if not session.is_closed:
            await self.server.hooks.fire_all("session/presence-changed", session)

    # -- §4.2 / §4.4: available presence ------------------------------------------------
    async def available(self, session: Session, el: etree._Element) -> None:
        priority = parse_priority(el)
        roster = await self.store.of_session(session)
        is_initial = not session.is_available
        session.priority = priority
        session.presence = el
        session.is_available = True
        await self.changed(session)
        await self.broadcast(session, roster, el, include_self=True)
        if is_initial:
            await self.probe_contacts(session, roster)
            self.deliver_pending(session, roster)
            await self.server.hooks.fire_all("presence/initial", session)

    async def broadcast(self, session: Session, roster: UserRoster, el: etree._Element, *,
                        include_self: bool) -> None:
        """§4.2.2 / §4.4.2 / §4.5.2: to the subscribers and to the user's available resources."""
        remote: list[JID] = []
        for contact in roster.subscribers():
            if self.is_local(contact):
                targets = self.sessions.available(contact)
                if targets:
                    data = serialize_to(el, contact)
                    for target in targets:
                        target.send_bytes(data)
            else:
                remote.append(contact)
        own = [s for s in self.sessions.available(session.bare) if include_self or s is not session]
        if own:
            data = serialize_to(el, session.bare)
            for target in own:
                target.send_bytes(data)
        for contact in remote:
            await self.send(el, contact)

    async def probe_contacts(self, session: Session, roster: UserRoster) -> None:
        """§4.2.2 / §4.3: the current presence of whoever the user is subscribed to."""
        for other in self.sessions.available(session.bare):
            if other is not session and other.presence is not None:
                session.send_bytes(serialize_to(other.presence, session.jid))
        remote: list[JID] = []
        for contact in roster.publishers():
            if self.is_local(contact):
                # §4.3.2: each available resource's last presence, from its full JID.
                for target in self.sessions.available(contact):
                    if target.presence is not None:
                        session.send_bytes(serialize_to(target.presence, session.jid))
            else:
                remote.append(contact)
        for contact in remote:  # §4.3.1: probes go from the user's bare JID
            await self.route_remote(make("presence", type_="probe", from_=session.bare, to=contact))

    @staticmethod
    def deliver_pending(session: Session, roster: UserRoster) -> None:
        """§3.1.3 rule 4: stored subscription requests, at every initial presence until answered."""
        for request in list(roster.pending_requests()):
            if is_well_formed(request):
                session.send_bytes(request.encode())

    # -- §4.5: unavailable presence -------------------------------------------------------
    async def unavailable(self, session: Session, el: etree._Element) -> None:
        roster = await self.store.of_session(session)
        was_available = session.is_available
        session.is_available = False
        session.presence = None
        await self.changed(session)
        if was_available:
            await self.broadcast(session, roster, el, include_self=False)
        # §4.6.3: whoever got directed presence hears that the user is gone — once.
        directed = directed_targets(session)
        targets = list(directed)
        directed.clear()
        for target in targets:
            if was_available and (target.bare == session.bare
                                  or roster.subscription(target.bare) in ("from", "both")):
                continue
            await self.send(el, target)

    async def session_closed(self, session: Session, unavailable: etree._Element | None = None) -> None:
        """Hook session/closed: §4.5.2 / §4.6.3 unavailable on the user's behalf, then free."""
        try:
            if session.is_available or session.data.get(DIRECTED):
                replacement = self.sessions.get(session.jid)
                if replacement is not None and replacement is not session and replacement.is_available:
                    # The same full JID is already back: an 'unavailable' would contradict it.
                    session.is_available = False
                    directed_targets(session).clear()
                else:
                    await self.unavailable(session, self._closing_presence(session, unavailable))
        finally:
            self.store.detach(session)

    @staticmethod
    def _closing_presence(session: Session, unavailable: etree._Element | None) -> etree._Element:
        if unavailable is not None and unavailable.get("type") == "unavailable":
            el = copy.deepcopy(unavailable)
            el.attrib.pop("to", None)
            el.set("from", str(session.jid))
            return el
        return make("presence", type_="unavailable", from_=session.jid)

    # -- §4.6: directed presence ------------------------------------------------------------
    def directed(self, stanza: Stanza) -> None:
        """Available or unavailable presence with a 'to' of this server: deliver, and remember
        the target of an outbound one until the user goes unavailable (§4.6.2)."""
        session = outbound_session(stanza)
        if session is not None:
            self.track_directed(session, stanza)
        self.deliver_local(stanza.to, etree.tostring(stanza.el))

    @staticmethod
    def track_directed(session: Session, stanza: Stanza) -> None:
        if stanza.type == "unavailable":
            directed_targets(session).discard(stanza.to)
        else:
            directed_targets(session).add(stanza.to)

    # -- §4.3.2: probes for a local user ------------------------------------------------------
    async def probe(self, stanza: Stanza) -> None:
        requester, contact = stanza.from_, stanza.to
        if requester is None or contact.local is None:
            return
        owner = contact.bare
        if requester.bare != owner and not await self._may_see(owner, requester.bare):
            if self.deny is not None:  # §4.3.2 rules 1-2: 'unsubscribed' on the contact's behalf
                await self.deny(owner, requester.bare)
            return
        # Rule 3: no available resource → nothing (the option to stay silent). Rule 4: each one's
        # last presence, from its full JID.
        for target in self.sessions.available(owner):
            if target.presence is not None and (contact.resource is None or target.jid == contact):
                await self.send(target.presence, requester)

    async def _may_see(self, owner: JID, requester: JID) -> bool:
        roster = self.store.loaded(owner)
        if roster is None and not await self.account_exists(owner):
            return False
        sub = roster.subscription(requester) if roster is not None else await self.store.subscription(owner, requester)
        return sub in ("from", "both")

    async def account_exists(self, bare: JID) -> bool:
        if self.sessions.resources(bare):
            return True
        return bool(await self.server.hooks.fire("account/exists", bare.local, bare.domain))


def is_well_formed(stored: str) -> bool:
    """A stored subscription request that no longer parses is logged and skipped: written
    as is, it would break the client's stream; the ones after it still go out."""
    try:
        el = etree.fromstring(stored.encode(), _STORED)
    except (etree.XMLSyntaxError, ValueError):
        log.warning("stored subscription request is not well-formed XML: skipped")
        return False
    return next(el.iter(etree.Entity), None) is None
