"""RFC 6121 §2.1: roster items as immutable values, and their `jabber:iq:roster` XML.

No ORM and no I/O here: `rosters.actions` persists these values, `rosters.store` keeps
them in memory, `rosters.xmpp` answers roster requests with the elements built here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable

from lxml import etree

from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.jid import JID, InvalidJID

SUBSCRIPTIONS = ("none", "to", "from", "both")
# RFC 6121 §2.3.3: "a server-configured limit" on the name and on each group name.
MAX_NAME_LENGTH = 1024
MAX_GROUP_LENGTH = 1024


def _q(name: str) -> str:
    return ns.q(ns.ROSTER, name)


@dataclass(frozen=True)
class Item:
    """One contact of one user's roster, with its presence subscription state (RFC 6121 §3).

    `pending_in` holds the serialized inbound subscription request while it awaits an answer
    (§3.1.3); `is_listed` is False for a contact that only sent such a request and is not
    (yet) in the user's roster: it is neither returned nor pushed.
    """

    jid: JID
    name: str = ""
    subscription: str = "none"
    ask: bool = False  # "pending out": ask='subscribe' (§2.1.2.2)
    pending_in: str = ""
    approved: bool = False  # a subscription pre-approval (§3.4)
    groups: tuple[str, ...] = ()
    is_listed: bool = True

    @property
    def has_to(self) -> bool:
        """The user receives the contact's presence (subscription 'to' or 'both')."""
        return self.subscription in ("to", "both")

    @property
    def has_from(self) -> bool:
        """The contact receives the user's presence (subscription 'from' or 'both')."""
        return self.subscription in ("from", "both")

    def with_flags(self, *, to: bool | None = None, from_: bool | None = None, **changes: object) -> "Item":
        """A copy with the 'to'/'from' halves of the subscription and other fields changed."""
        has_to = self.has_to if to is None else to
        has_from = self.has_from if from_ is None else from_
        sub = {(False, False): "none", (True, False): "to", (False, True): "from",
               (True, True): "both"}[(has_to, has_from)]
        return replace(self, subscription=sub, **changes)

    def visible(self) -> tuple[object, ...] | None:
        """What a roster push shows (§2.1.2); None for an item the user does not see."""
        if not self.is_listed:
            return None
        return (self.name, self.subscription, self.ask, self.approved, self.groups)


@dataclass(frozen=True)
class ItemRequest:
    """The one <item/> of a roster set (§2.3–§2.5), checked."""

    jid: JID
    name: str = ""
    groups: tuple[str, ...] = field(default=())
    is_remove: bool = False


def item_element(item: Item, *, removed: bool = False) -> etree._Element:
    """The <item/> of a roster result or push (§2.1.2); subscription='remove' after removal."""
    el = etree.Element(_q("item"), nsmap={None: ns.ROSTER})
    el.set("jid", str(item.jid))
    if removed:
        el.set("subscription", "remove")
        return el
    if item.name:
        el.set("name", item.name)
    el.set("subscription", item.subscription)
    if item.ask:
        el.set("ask", "subscribe")
    if item.approved:
        el.set("approved", "true")
    for group in item.groups:
        etree.SubElement(el, _q("group")).text = group
    return el


def query_element(items: Iterable[Item], version: str | None) -> etree._Element:
    """A <query xmlns='jabber:iq:roster'/> with `items` (the listed ones) and 'ver' (§2.6)."""
    query = etree.Element(_q("query"), nsmap={None: ns.ROSTER})
    if version is not None:
        query.set("ver", version)
    for item in items:
        if item.is_listed:
            query.append(item_element(item))
    return query


def parse_set(query: etree._Element) -> ItemRequest:
    """Check a roster set's <query/> (§2.3.3, §2.5.3) and return its one item."""
    items = query.findall(_q("item"))
    if len(items) != 1:  # §2.3.3: exactly one <item/>
        raise StanzaError("bad-request", "a roster set carries exactly one item")
    el = items[0]
    raw_jid = el.get("jid")
    if not raw_jid:
        raise StanzaError("bad-request", "the item has no 'jid'")
    try:
        jid = JID.parse(raw_jid)
    except InvalidJID:
        raise StanzaError("jid-malformed", "the item's 'jid' is not a valid JID") from None
    if jid.resource is not None:  # §2.1.2.3: roster items are bare JIDs
        raise StanzaError("bad-request", "roster items are bare JIDs")
    if el.get("subscription") == "remove":  # §2.5.1; 'ask' and 'approved' are ignored (§2.1.2)
        return ItemRequest(jid, is_remove=True)
    name = el.get("name") or ""
    if len(name) > MAX_NAME_LENGTH:
        raise StanzaError("not-acceptable", f"names are limited to {MAX_NAME_LENGTH} characters")
    return ItemRequest(jid, name=name, groups=_groups(el))


def _groups(el: etree._Element) -> tuple[str, ...]:
    groups: list[str] = []
    for group in el.findall(_q("group")):
        text = group.text or ""
        if not text:  # §2.3.3: an empty group name is not acceptable
            raise StanzaError("not-acceptable", "a group name may not be empty")
        if len(text) > MAX_GROUP_LENGTH:
            raise StanzaError("not-acceptable", f"group names are limited to {MAX_GROUP_LENGTH} characters")
        if text in groups:  # §2.3.3: duplicate groups
            raise StanzaError("bad-request", f"the group {text!r} is repeated")
        groups.append(text)
    return tuple(groups)
