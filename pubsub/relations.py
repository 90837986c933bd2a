"""Who the requester is to a node (XEP-0060 §4.5 access models), from memory first.

The owner's roster is the one `rosters` keeps in each of the owner's sessions
(`session.data["rosters.items"]`: contact JID → item with `subscription` and `groups`), so
presence and roster access cost no database query while the owner is online; otherwise the
`roster/subscription` hook answers (a read for an offline owner).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from pubsub.engine import config as cfg
from pubsub.engine.access import Relation
from pubsub.engine.node import NodeView
from xmppcore.jid import JID, InvalidJID

if TYPE_CHECKING:
    from xmppd.server import Server

ROSTER_ITEMS = "rosters.items"  # the rosters module's session state (rosters/store.py)
PRESENCE_VISIBLE = frozenset({"from", "both"})


def roster_of(server: "Server", owner: JID) -> dict[JID, Any] | None:
    """The owner's roster as its sessions share it, or None when the owner is offline."""
    for session in server.sessions.resources(owner):
        items = session.data.get(ROSTER_ITEMS)
        if items is not None:
            return items
    return None


def presence_subscribers(server: "Server", owner: JID) -> Iterator[JID]:
    """Contacts with a 'from'/'both' subscription to the owner (XEP-0163 §4.3.1)."""
    items = roster_of(server, owner) or {}
    return (jid for jid, item in list(items.items())
            if getattr(item, "subscription", "none") in PRESENCE_VISIBLE and getattr(item, "is_listed", True))


def _owner(node: NodeView) -> JID | None:
    owner = node.service if node.pep else (node.owners[0] if node.owners else None)
    try:
        return JID.parse(owner) if owner else None
    except InvalidJID:
        return None


async def relation(server: "Server", node: NodeView, requester: JID) -> Relation:
    bare = requester.bare
    affiliation = node.affiliation(str(bare))
    subscribed = node.is_subscribed(str(bare))
    model = node.config.get(cfg.ACCESS_MODEL)
    owner = _owner(node)
    if owner is None or model not in (cfg.PRESENCE, cfg.ROSTER):
        return Relation(affiliation, subscribed)
    items = roster_of(server, owner)
    if items is not None:
        item = items.get(bare)
        state = getattr(item, "subscription", "none") if item is not None else "none"
        groups = tuple(getattr(item, "groups", ())) if item is not None else ()
        return Relation(affiliation, subscribed, state in PRESENCE_VISIBLE, groups, item is not None)
    state = await server.hooks.fire("roster/subscription", owner, bare)
    return Relation(affiliation, subscribed, state in PRESENCE_VISIBLE)
