"""RFC 6121 §3: presence subscriptions — outbound processing on the sender's roster, inbound
processing on the recipient's, and the presence that follows a granted or ended subscription.

Between two local users both halves run here, one after the other; a remote contact's
half is its own server's business (the stanza goes out through route/remote).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from rosters import actions
from rosters.presence import Presence
from rosters.store import RosterStore
from xmppcore.errors import StanzaError
from xmppcore.jid import JID
from xmppcore.stanza import Stanza, make

if TYPE_CHECKING:
    from xmppd.server import Server


class Subscriptions:
    def __init__(self, server: "Server", store: RosterStore, presence: Presence) -> None:
        self.server = server
        self.store = store
        self.presence = presence
        presence.deny = self.deny

    async def outbound(self, stanza: Stanza) -> None:
        """§3.1.2, §3.2.2, §3.3.2 and Appendix A.2: the user sent a subscription stanza."""
        user, contact, kind = stanza.from_.bare, stanza.to.bare, stanza.type
        if contact == user or contact.local is None and self.presence.is_local(contact):
            return  # no subscription to oneself or to this server: nothing to do
        el = stanza.el
        # §3.1.2: the server stamps bare JIDs on both ends.
        el.set("from", str(user))
        el.set("to", str(contact))
        change = await self.store.change(user, actions.do_outbound, contact, kind)
        outcome = change.outcome
        if outcome.forward and not await self.route(el, user, contact):
            raise StanzaError("remote-server-not-found", "no route to that domain")
        if kind == "subscribed" and outcome.gained_from:
            await self.send_current_presence(user, contact)  # §3.1.5
        elif kind == "unsubscribed" and outcome.lost_from:
            await self.send_unavailable(user, contact)  # §3.2.2

    async def route(self, el: etree._Element, sender: JID, recipient: JID) -> bool:
        """Locally: the recipient's inbound processing. Remotely: route/remote."""
        if self.presence.is_local(recipient):
            await self.inbound(el, sender, recipient)
            return True
        return await self.presence.route_remote(el)

    async def inbound(self, el: etree._Element, sender: JID, recipient: JID) -> None:
        """§3.1.3, §3.1.6, §3.2.3, §3.3.3 and Appendix A.3, for a local recipient."""
        if recipient.local is None:
            return
        if self.store.loaded(recipient) is None and not await self.presence.account_exists(recipient):
            return  # §8.5.1 / §3.1.3: no such user: the subscription stanza is dropped
        kind = el.get("type")
        el.set("from", str(sender))
        el.set("to", str(recipient))
        request = etree.tostring(el).decode() if kind == "subscribe" else ""
        try:
            change = await self.store.change(recipient, actions.do_inbound, sender, kind, request,
                                             self.server.config.max_roster_items)
        except actions.PendingFull as full:  # issue 8: RFC 6120 §8.3.3.18, refused to the sender
            raise StanzaError("resource-constraint", str(full)) from None
        except actions.RosterFull as full:  # RFC 6120 §8.3.3.12: the recipient's roster is full
            raise StanzaError("policy-violation", str(full)) from None
        outcome = change.outcome
        if outcome.forward:
            self.presence.deliver_local(recipient, etree.tostring(el))
        if outcome.auto_reply:  # §3.1.3 rule 2, §3.4: 'subscribed' on the recipient's behalf
            await self.route(make("presence", type_="subscribed", from_=recipient, to=sender),
                             recipient, sender)
            if outcome.gained_from:
                await self.send_current_presence(recipient, sender)
        if kind == "unsubscribe" and outcome.lost_from:
            await self.send_unavailable(recipient, sender)  # §3.3.3

    async def deny(self, owner: JID, requester: JID) -> None:
        """An 'unsubscribed' from `owner` to `requester` that changes no roster of `owner`
        (§4.3.2: the answer to a probe that is not allowed)."""
        await self.route(make("presence", type_="unsubscribed", from_=owner, to=requester), owner, requester)

    async def send_current_presence(self, user: JID, contact: JID) -> None:
        """§3.1.5: the new subscriber gets the last presence of each of the user's resources."""
        for session in self.server.sessions.available(user):
            if session.presence is not None:
                await self.presence.send(session.presence, contact)

    async def send_unavailable(self, user: JID, contact: JID) -> None:
        """§3.2.2 / §3.3.3: a former subscriber sees each of the user's resources go."""
        for session in self.server.sessions.available(user):
            await self.presence.send(make("presence", type_="unavailable", from_=session.jid), contact)

    async def remove_item(self, user: JID, change: actions.Change) -> None:
        """§2.5.2: removing a contact cancels both halves of the subscription first held."""
        item = change.outcome.before
        if item is None:
            return
        contact = item.jid
        if item.has_to or item.ask:
            await self.route(make("presence", type_="unsubscribe", from_=user, to=contact), user, contact)
        if item.has_from or item.pending_in:
            await self.route(make("presence", type_="unsubscribed", from_=user, to=contact), user, contact)
        if item.has_from:
            await self.send_unavailable(user, contact)
