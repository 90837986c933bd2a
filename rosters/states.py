"""RFC 6121 Appendix A: the presence subscription state tables, as pure functions.

A state is an `Item` (or None: the contact is not in the roster at all). Outbound
functions apply what the user's server does with a subscription stanza its own user
sent (§A.2 plus pre-approval, §3.4); inbound functions what the contact's server does
with one that arrives for its user (§A.3). Each returns the new state (None when the row
has nothing left to keep) and whether the stanza goes on: routed (outbound) or
delivered to the user's available resources (inbound).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rosters.items import Item
from xmppcore.jid import JID

SUBSCRIPTION_TYPES = frozenset(("subscribe", "subscribed", "unsubscribe", "unsubscribed"))


@dataclass(frozen=True)
class Outcome:
    """The result of one transition."""

    before: Item | None
    after: Item | None
    forward: bool  # outbound: route the stanza to the contact; inbound: deliver it to the user
    auto_reply: bool = False  # inbound subscribe: answer 'subscribed' on the user's behalf (§3.1.3)

    @property
    def is_visible_change(self) -> bool:
        """Whether the user sees a change: a roster push is due (§2.1.6)."""
        return _visible(self.before) != _visible(self.after)

    @property
    def gained_from(self) -> bool:
        """The contact has just been granted a subscription to the user's presence."""
        return _has_from(self.after) and not _has_from(self.before)

    @property
    def lost_from(self) -> bool:
        """The contact's subscription to the user's presence has just ended."""
        return _has_from(self.before) and not _has_from(self.after)


def _visible(item: Item | None) -> tuple[object, ...] | None:
    return None if item is None else item.visible()


def _has_from(item: Item | None) -> bool:
    return item is not None and item.has_from


def _settle(item: Item) -> Item | None:
    """An unlisted item with no pending request has nothing left to remember."""
    if not item.is_listed and not item.pending_in:
        return None
    return item


def outbound(item: Item | None, contact: JID, kind: str) -> Outcome:
    """§A.2 (and §3.4 pre-approval): the user sent `kind` to `contact`."""
    current = item or Item(contact, is_listed=False)
    if kind == "subscribe":  # §A.2.1: always routed; pending out unless already 'to'
        after = current if current.has_to else replace(current, ask=True, is_listed=True)
        return Outcome(item, _settle(after), forward=True)
    if kind == "unsubscribe":  # §A.2.2: always routed; 'to' and pending out end
        after = current.with_flags(to=False, ask=False)
        return Outcome(item, _settle(after), forward=True)
    if kind == "subscribed":
        return _outbound_subscribed(item, current)
    if kind == "unsubscribed":
        return _outbound_unsubscribed(item, current)
    raise ValueError(kind)


def _outbound_subscribed(item: Item | None, current: Item) -> Outcome:
    if current.pending_in:  # §A.2.3: approve the pending request
        after = current.with_flags(from_=True, pending_in="", approved=False, is_listed=True)
        return Outcome(item, after, forward=True)
    if current.has_from or current.approved:  # §A.2.3: nothing to change, not routed
        return Outcome(item, item, forward=False)
    # §3.4.1: no request yet: a pre-approval, noted in the roster and not routed.
    return Outcome(item, replace(current, approved=True, is_listed=True), forward=False)


def _outbound_unsubscribed(item: Item | None, current: Item) -> Outcome:
    if current.pending_in or current.has_from:  # §A.2.4: deny or cancel
        after = current.with_flags(from_=False, pending_in="", approved=False)
        return Outcome(item, _settle(after), forward=True)
    if current.approved:  # §3.4: cancels a pre-approval; nothing to route
        return Outcome(item, replace(current, approved=False), forward=False)
    return Outcome(item, item, forward=False)


def inbound(item: Item | None, contact: JID, kind: str, request_xml: str = "") -> Outcome:
    """§A.3: `kind` arrived from `contact` for the user who owns this roster."""
    current = item or Item(contact, is_listed=False)
    if kind == "subscribe":
        return _inbound_subscribe(item, current, request_xml)
    if kind == "unsubscribe":  # §A.3.2: a pending request or a granted subscription ends
        if not (current.pending_in or current.has_from):
            return Outcome(item, item, forward=False)
        after = current.with_flags(from_=False, pending_in="")
        return Outcome(item, _settle(after), forward=True)
    if kind == "subscribed":  # §A.3.3: only an answer to our pending request counts
        if not current.ask or current.has_to:
            return Outcome(item, item, forward=False)
        return Outcome(item, current.with_flags(to=True, ask=False), forward=True)
    if kind == "unsubscribed":  # §A.3.4: our request is denied or our subscription cancelled
        if not (current.ask or current.has_to):
            return Outcome(item, item, forward=False)
        return Outcome(item, _settle(current.with_flags(to=False, ask=False)), forward=True)
    raise ValueError(kind)


def _inbound_subscribe(item: Item | None, current: Item, request_xml: str) -> Outcome:
    if current.has_from:  # §3.1.3 rule 2: already subscribed: auto-reply, nothing delivered
        return Outcome(item, item, forward=False, auto_reply=True)
    if current.approved:  # §3.4.2: pre-approved: the subscription is granted at once
        after = current.with_flags(from_=True, approved=False, pending_in="")
        return Outcome(item, after, forward=False, auto_reply=True)
    if current.pending_in:  # §A.3.1: a duplicate request changes nothing
        return Outcome(item, item, forward=False)
    # §3.1.3 rules 3-4: deliver to available resources and keep it until answered.
    return Outcome(item, replace(current, pending_in=request_xml), forward=True)
