"""XEP-0402: PEP Native Bookmarks §5.3 "Compatibility" — XEP-0048 bookmarks in private storage
(XEP-0049), in PEP `storage:bookmarks` and XEP-0402 `urn:xmpp:bookmarks:1` kept in step, as
Prosody's mod_bookmarks and ejabberd do.

- A private-storage set of `storage:bookmarks` (privatexml.xmpp) publishes the changed rooms
  to `urn:xmpp:bookmarks:1`, retracts the removed ones (§5.3.2), and stores the <storage/> as
  the item `current` of `storage:bookmarks`.
- A PEP publish or retract on either node (`pep/item-changed`, fired by pubsub's IQ handlers)
  writes the merged legacy <storage/> (§5.3.1) back to private storage and to the other node.
The PEP side goes through pubsub's seam on the hook bus (`pep/read-items`, `pep/write`,
pubsub.pep.Mirror): the writes are notified as any PEP publish (XEP-0163 §4.3) and fire no
`pep/item-changed`, so the sync does not trigger itself. The account advertises `#compat`
and `#compat-pep` in its disco#info (§5.3).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lxml import etree

from privatexml import actions, bookmarks
from xmppcore import ns
from xmppcore.jid import JID, InvalidJID
from xmppcore.stanza import Stanza
from xmppd.storage import db

if TYPE_CHECKING:
    from xmppd.server import Server

log = logging.getLogger(__name__)
FEATURES = (f"{ns.BOOKMARKS2}#compat", f"{ns.BOOKMARKS2}#compat-pep")
LEGACY_ITEM = "current"  # XEP-0048 §3.3 / XEP-0223: the one item of PEP storage:bookmarks
MAX_ITEMS = 1000  # pubsub's largest max_items, what "max" gives (pubsub.engine.config)
# XEP-0402 §3 node configuration (the server creates the node as a client would); XEP-0223
# for the legacy node. Both private (whitelist), persistent, no last item on presence.
NATIVE_CONFIG: dict[str, Any] = {
    "pubsub#access_model": "whitelist", "pubsub#persist_items": True, "pubsub#max_items": MAX_ITEMS,
    "pubsub#send_last_published_item": "never", "pubsub#notify_delete": True, "pubsub#notify_retract": True}
LEGACY_CONFIG: dict[str, Any] = {
    "pubsub#access_model": "whitelist", "pubsub#persist_items": True, "pubsub#max_items": 1,
    "pubsub#send_last_published_item": "never"}
_PARSER = actions.PARSER


def legacy_list(items: list[tuple[str, str]]) -> str | None:
    """The <storage/> of PEP storage:bookmarks: the payload of `current`; an empty list when
    it was retracted; None (nothing to copy) when `current` holds something else."""
    current = next((payload for item_id, payload in items if item_id == LEGACY_ITEM), None)
    if not current:
        return etree.tostring(actions.empty_storage(), encoding="unicode")
    return current if etree.fromstring(current, _PARSER).tag == ns.q(ns.BOOKMARKS, "storage") else None


class BookmarkSync:
    def __init__(self, server: "Server", quota: int) -> None:
        self.hooks = server.hooks
        self.quota = quota  # XMPP_PRIVATE_QUOTA: PEP-made bookmarks count against it too

    async def write(self, service: str, node: str, config: dict[str, Any],
                    publish: list[tuple[str, str]], retract: list[str] | None = None) -> None:
        if publish or retract:
            await self.hooks.fire("pep/write", service, node, config, publish, retract or [])

    async def legacy_replaced(self, service: str, before: str | None, after: str, *, to_legacy_pep: bool) -> None:
        """§5.3.2: the legacy list changed from `before` to `after`: the changed rooms to the
        native node, the removed ones retracted; the list itself to PEP storage:bookmarks."""
        old = etree.fromstring(before, _PARSER) if before else None
        publish, retract = bookmarks.changes(old, etree.fromstring(after, _PARSER))
        items = [(item.get("id") or "", etree.tostring(item[0], encoding="unicode")) for item in publish]
        await self.write(service, ns.BOOKMARKS2, NATIVE_CONFIG, items, retract)
        if to_legacy_pep:
            await self.write(service, ns.BOOKMARKS, LEGACY_CONFIG, [(LEGACY_ITEM, after)])

    async def on_pep_change(self, service: str, node: str) -> None:
        """`pep/item-changed`: a client wrote one of the two bookmark nodes itself."""
        if node not in (ns.BOOKMARKS, ns.BOOKMARKS2):
            return None
        try:
            owner = JID.parse(service)
        except InvalidJID:
            return None
        items = await self.hooks.fire("pep/read-items", service, node) or []
        try:
            if node == ns.BOOKMARKS2:
                storage = await db(actions.do_merge_native, owner.local, owner.domain, items, self.quota)
                await self.write(service, ns.BOOKMARKS, LEGACY_CONFIG, [(LEGACY_ITEM, storage)])
                return None
            after = legacy_list(items)
            if after is None:
                return None
            before = await db(actions.do_replace_bookmarks, owner.local, owner.domain, after, self.quota)
        except actions.QuotaExceeded:
            # The PEP write stands (its IQ is answered); private storage keeps the older list.
            log.warning("bookmarks of %s not copied to private storage: over XMPP_PRIVATE_QUOTA", service)
            return None
        await self.legacy_replaced(service, before, after, to_legacy_pep=False)
        return None

    def info(self, stanza: Stanza, query: etree._Element) -> None:
        """disco#info of the account (bare JID): the compatibility features (§5.3), when PEP
        (the pubsub module's seam) is there to keep in step with."""
        if not self.hooks.has("pep/write"):
            return None
        for feature in FEATURES:
            etree.SubElement(query, ns.q(ns.DISCO_INFO, "feature"), var=feature)
