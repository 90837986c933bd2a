"""RFC 6121 §2-§4: rosters, presence subscriptions and presence — the app's XMPP face.

Hooks handled:
  auth/success (username, domain, driver, prefetch): read the roster with the login's other
    reads, unless in memory already
  session/bound (session): load the user's roster once (or take the prefetched one), shared
    by their resources
  session/closed (session, unavailable element or None): unavailable broadcast (§4.5.2), free
  iq-get / iq-set self jabber:iq:roster:query: roster get, set, remove (§2.1-§2.5), versioning (§2.6)
  iq-get / iq-set bare jabber:iq:roster:query: another user's roster: forbidden (§2.3.3)
  presence/broadcast, presence/bare, presence/full, presence/host: §3 and §4
  pre-presence/{bare,full,host} (POLICY): the sender's side of presence a local user sends
    to an address that is not a user of this server (another domain, a component such as
    a MUC room): outbound subscription processing and directed-presence tracking
  roster/subscription (owner_bare, contact_bare) -> "none" | "to" | "from" | "both"
  cluster/roster-changed (bare): another node changed that roster: reload our copy
Hooks fired:
  presence/initial (session): after an initial presence is broadcast, probes answered and
    stored subscription requests delivered (the offline store flushes there)
  session/presence-changed (session): availability, priority, last presence or roster
    interest of a session changed (xmppd.cluster replicates it)
Stream features: <ver xmlns='urn:xmpp:features:rosterver'/> and
<sub xmlns='urn:xmpp:features:pre-approval'/>, once authenticated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lxml import etree

from rosters import actions
from rosters.items import parse_set, query_element
from rosters.presence import Presence, outbound_session
from rosters.states import SUBSCRIPTION_TYPES
from rosters.store import DIRECTED, INTERESTED, ITEMS, RosterStore, is_interested
from rosters.subscriptions import Subscriptions
from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.stanza import Stanza, iq_result
from xmppd.modules import Module
from xmppd.origin import CLIENT
from xmppd.priorities import DELIVER, POLICY, SESSION_GONE_BROADCAST
from xmppd.sessions import Session

if TYPE_CHECKING:
    from xmppd.server import Server


def _own_session(stanza: Stanza) -> Session:
    """§2.1.5 / §2.3.3: only an authenticated resource of the account itself may touch a roster."""
    session = stanza.origin
    if session is None or session.kind != CLIENT or stanza.from_ is None or stanza.from_.bare != session.bare:
        raise StanzaError("forbidden", "only the account's own resources manage its roster")
    return session


class RosterRequests:
    """§2.1.3-§2.6: roster get and set from the user's own resources."""

    def __init__(self, store: RosterStore, subscriptions: Subscriptions) -> None:
        self.store = store
        self.subscriptions = subscriptions

    async def get(self, stanza: Stanza) -> etree._Element:
        session = _own_session(stanza)
        roster = await self.store.of_session(session)
        if not is_interested(session):  # §2.1.6: it requested the roster, it gets pushes
            self.store.server.sessions.set_state(session, INTERESTED, True)
        requested = stanza.payload.get("ver")
        if requested is not None and requested == roster.ver:
            return iq_result(stanza)  # §2.6.3: unchanged: an empty result
        return iq_result(stanza, query_element(roster.items.values(), roster.ver))

    async def set(self, stanza: Stanza) -> bool:
        session = _own_session(stanza)
        request = parse_set(stanza.payload)
        await self.store.of_session(session)

        def answer(_: actions.Change) -> None:  # §2.3.2: the result, then the pushes
            session.send(iq_result(stanza))

        if not request.is_remove:
            try:
                await self.store.change(session.bare, actions.do_set_item, request.jid, request.name,
                                        request.groups, self.store.server.config.max_roster_items,
                                        before_push=answer)
            except actions.RosterFull as full:  # issue 8: a bounded roster per account
                raise StanzaError("policy-violation", str(full)) from None
            return True
        try:
            change = await self.store.change(session.bare, actions.do_remove_item, request.jid,
                                             before_push=answer)
        except actions.ItemNotFound:
            raise StanzaError("item-not-found", "that contact is not in the roster") from None
        await self.subscriptions.remove_item(session.bare, change)
        return True

    @staticmethod
    def forbidden(stanza: Stanza) -> None:
        raise StanzaError("forbidden", "you cannot see or change another user's roster")


class PresenceEvents:
    """The router's presence events, sorted out by type (RFC 6121 §3, §4, §8.5)."""

    def __init__(self, presence: Presence, subscriptions: Subscriptions) -> None:
        self.presence = presence
        self.subscriptions = subscriptions

    async def broadcast(self, stanza: Stanza) -> bool:
        """No 'to': available (§4.2, §4.4) or unavailable (§4.5) broadcast; others are ignored."""
        session = outbound_session(stanza)
        if session is None:
            return True
        if stanza.type is None:
            await self.presence.available(session, stanza.el)
        elif stanza.type == "unavailable":
            await self.presence.unavailable(session, stanza.el)
        return True

    async def to_user(self, stanza: Stanza) -> bool:
        """presence/bare and presence/full: to a user of this server."""
        kind = stanza.type
        if kind in SUBSCRIPTION_TYPES:
            await self._subscription(stanza)
        elif kind == "probe":
            await self.presence.probe(stanza)
        elif kind == "error":
            # §8.5.3.1: to the resource it names; §8.5.2: to a bare JID it is ignored.
            if stanza.to.resource is not None:
                self.presence.deliver_local(stanza.to, etree.tostring(stanza.el))
        else:
            self.presence.directed(stanza)
        return True

    async def _subscription(self, stanza: Stanza) -> None:
        if stanza.from_ is None:
            return
        if outbound_session(stanza) is not None:
            await self.subscriptions.outbound(stanza)
        else:  # from another server: §3.1.3 treats a full 'to' as the bare JID
            await self.subscriptions.inbound(stanza.el, stanza.from_.bare, stanza.to.bare)

    @staticmethod
    def to_host(stanza: Stanza) -> bool:
        """Presence to this server's domain: nobody to deliver it to; no error (§8.5.1)."""
        return True

    async def outbound(self, stanza: Stanza) -> Any:
        """pre-presence/*: the local half of what a user sends to another domain or a component
        (presence to local users is handled on their side, `to_user`)."""
        session = outbound_session(stanza)
        if session is None or stanza.to is None or self.presence.is_local(stanza.to):
            return None
        if stanza.type in SUBSCRIPTION_TYPES:
            await self.subscriptions.outbound(stanza)  # routes it on, stamped
            return True
        if stanza.type in (None, "unavailable"):
            Presence.track_directed(session, stanza)
        return None


def _feature(namespace: str, name: str) -> Any:
    def provider(driver: Any) -> etree._Element | None:
        if not getattr(driver, "is_authenticated", False):
            return None
        return etree.Element(ns.q(namespace, name), nsmap={None: namespace})
    return provider


def load(server: "Server") -> Module:
    module = server.module(
        "rosters", xep="RFC 6121", title="Rosters, presence subscriptions and presence (§2-§4)",
        version="RFC 6121", status="complete",
        notes="roster versioning (§2.6), subscription pre-approval (§3.4), directed presence (§4.6)",
    )
    store = RosterStore(server)
    presence = Presence(server, store)
    subscriptions = Subscriptions(server, store, presence)
    roster = RosterRequests(store, subscriptions)
    events = PresenceEvents(presence, subscriptions)

    module.session_state(ITEMS)
    module.session_state(INTERESTED, replicate=True)
    module.session_state(DIRECTED)
    module.hook("auth/success", store.prefetch)  # the roster read overlaps the stream restart
    module.hook("session/bound", store.attach)
    # Before other observers of a closing session: contacts must see it go at once.
    module.hook("session/closed", presence.session_closed, priority=SESSION_GONE_BROADCAST)
    module.hook("roster/subscription", store.subscription)
    module.hook("roster/change", store.change)  # operator changes (commands app): memory + pushes
    module.hook("cluster/roster-changed", store.reload)
    module.hook("account/deleted", store.forget)  # others' rosters lose the deleted account
    module.hook("cluster/account-deleted", store.forget)  # ... and on every other node too
    module.iq("get", ns.ROSTER, "query", roster.get, scope="self")
    module.iq("set", ns.ROSTER, "query", roster.set, scope="self")
    module.iq("get", ns.ROSTER, "query", roster.forbidden, scope="bare")
    module.iq("set", ns.ROSTER, "query", roster.forbidden, scope="bare")
    module.hook("presence/broadcast", events.broadcast, DELIVER)
    module.hook("presence/bare", events.to_user, DELIVER)
    module.hook("presence/full", events.to_user, DELIVER)
    module.hook("presence/host", events.to_host, DELIVER)
    for target in ("bare", "full", "host"):
        module.hook(f"pre-presence/{target}", events.outbound, POLICY)
    module.stream_feature(_feature(ns.ROSTER_VER_FEATURE, "ver"))
    module.stream_feature(_feature(ns.PRESENCE_PREAPPROVAL, "sub"))
    return module
