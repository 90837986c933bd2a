"""XEP-0160: Best Practices for Handling Offline Messages (with XEP-0203: Delayed Delivery).

Hooks handled:
  message/offline (stanza) -> True when stored, None when the user's store is full
      (the message module then answers <service-unavailable/>, XEP-0160 §2 step 3). Fired by
      plugins/message.py for messages of type normal or chat to an existing account
      with no available resource of non-negative priority.
  presence/initial (session): after a session's initial presence with a non-negative
      priority, send it the stored messages, oldest first, and delete those written (§2
      step 5); each carries a XEP-0203 <delay/> stamped when it was stored. No query when
      the login's prefetch found the store empty and nothing was stored since.
  auth/success (username, domain, driver, prefetch): whether the store is empty, read with
      the login's other reads (single-node servers: another node could store unseen).
  session/bound (session): keeps that answer until the initial presence.
  session/presence-changed (session): the same when an available session's priority
      goes from negative to non-negative ("next sends non-negative available presence").
Only types normal and chat reach the store (§3, enforced by plugins/message.py).
Disco feature: msgoffline (§4).
"""

from __future__ import annotations

import asyncio
import copy
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from lxml import etree

from offline import actions
from xmppcore import ns
from xmppcore.jid import JID
from xmppcore.stanza import Stanza
from xmppd.storage import PREFETCH, Prefetch, Writes, db

if TYPE_CHECKING:
    from xmppd.modules import Module
    from xmppd.server import Server
    from xmppd.sessions import Session

MODULE = "offline"  # key of this module's state in Session.data: the last priority seen
EMPTY_AT = "offline.empty"  # Session.data: the Writes snapshot at which the store was empty
DELAY_REASON = "Offline Storage"  # XEP-0203 §3 example 1
FLUSH_BATCH = 100
log = logging.getLogger(__name__)
# Our own XML, read back from the database: still parsed with entities and network off.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
_BODY_TAGS = frozenset({ns.q(ns.CLIENT, "body"), ns.q(ns.CLIENT, "subject")})
_THREAD = ns.q(ns.CLIENT, "thread")


def xep0082_datetime(moment: datetime) -> str:
    """XEP-0082 §3.2 DateTime in UTC: CCYY-MM-DDThh:mm:ss.sssZ (the XEP-0203 §2 stamp)."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def with_delay(el: etree._Element, domain: str, now: datetime) -> etree._Element:
    """A copy of the message carrying our <delay/> (XEP-0203 §2: one and only one)."""
    stored = copy.deepcopy(el)
    for old in stored.findall(ns.q(ns.DELAY, "delay")):
        stored.remove(old)
    delay = etree.SubElement(stored, ns.q(ns.DELAY, "delay"), nsmap={None: ns.DELAY})
    delay.set("from", domain)
    delay.set("stamp", xep0082_datetime(now))
    delay.text = DELAY_REASON
    return stored


def is_standalone_chat_state(el: etree._Element) -> bool:
    """XEP-0085 §5.8: a notification with no content (a server SHOULD NOT store it offline)."""
    has_state = False
    for child in el:
        if not isinstance(child.tag, str):
            continue
        if child.tag in _BODY_TAGS:
            return False
        if etree.QName(child).namespace == ns.CHATSTATES:
            has_state = True
        elif child.tag != _THREAD:
            return False
    return has_state


@dataclass
class _FlushGuard:
    """One flush at a time per account; dropped when nobody waits on it."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class OfflineStore:
    def __init__(self, server: "Server") -> None:
        self.server = server
        self._flushing: dict[JID, _FlushGuard] = {}
        self.writes = Writes()

    async def store(self, stanza: Stanza) -> bool | None:
        el = stanza.el
        if is_standalone_chat_state(el):
            return True  # nothing worth keeping: handled, and nobody is told of an error
        owner = stanza.to.bare
        stored = with_delay(el, owner.domain, datetime.now(timezone.utc))
        xml = etree.tostring(stored, encoding="unicode")
        sender = str(stanza.from_) if stanza.from_ is not None else ""
        with self.writes.writing():
            stored_ok = await db(actions.do_store_message, owner.local, owner.domain, sender, xml,
                                 self.server.config.offline_quota, self.server.config.offline_per_sender)
        if stored_ok:
            return True
        return None  # quota reached: the router bounces the message (service-unavailable)

    def prefetch(self, username: str, domain: str, _driver: object, prefetch: Prefetch) -> None:
        """Hook auth/success: is the store empty? (asked with the login's other reads)."""
        if getattr(self.server, "cluster", None) is None:
            prefetch.add(MODULE, _read_is_empty, self.writes.snapshot(), username, domain)

    def bound(self, session: "Session") -> None:
        """Hook session/bound: keep the prefetched 'empty' until the initial presence."""
        prefetch: Prefetch | None = session.data.get(PREFETCH)
        read = prefetch.take(MODULE) if prefetch is not None else None
        if read is not None and read[1]:
            session.data[EMPTY_AT] = read[0]

    async def initial(self, session: "Session") -> None:
        """Hook presence/initial: flush when the first available presence is non-negative."""
        session.data[MODULE] = session.priority
        if self.writes.is_unchanged(session.data.pop(EMPTY_AT, None)):
            return None  # empty at login and nothing stored since: nothing to send
        await self.flush(session)
        return None

    async def presence_changed(self, session: "Session") -> None:
        """Hook session/presence-changed: flush when the priority rises from below zero."""
        before = session.data.get(MODULE)
        if before is None or not session.is_available:
            return None  # before the initial presence (presence/initial will decide), or gone
        session.data[MODULE] = session.priority
        if before < 0 <= session.priority:
            await self.flush(session)
        return None

    async def flush(self, session: "Session") -> None:
        """§2 step 5: deliver to the resource that sent non-negative presence, then delete."""
        if session.priority < 0 or session.is_closed:
            return None
        bare = session.bare
        guard = self._flushing.get(bare)
        if guard is None:
            guard = self._flushing[bare] = _FlushGuard()
        guard.users += 1
        try:
            async with guard.lock:  # two resources logging in at once must not both get one
                await self._flush(session, bare)
        finally:
            guard.users -= 1
            if guard.users == 0:
                del self._flushing[bare]
        return None  # a notification: every other handler runs too

    async def _flush(self, session: "Session", bare: JID) -> None:
        after = 0
        while not session.is_closed:
            rows = await db(actions.get_messages, bare.local, bare.domain, after, FLUSH_BATCH)
            if not rows:
                return
            written: list[int] = []
            for row_id, xml in rows:
                stanza = _stored(row_id, xml)
                if stanza is not None and not session.send(stanza):
                    break
                written.append(row_id)  # a row that cannot be parsed is removed, not retried
            if written:  # deleted only once written: a dead session leaves them stored
                await db(actions.do_delete_messages, bare.local, bare.domain, written)
            if len(written) < len(rows):
                return
            after = rows[-1][0]


def _stored(row_id: int, xml: str | bytes) -> etree._Element | None:
    """A stored message, or None (logged) when its XML no longer parses: one bad row must
    not hold back the messages stored after it (XEP-0160 §2: they are all delivered)."""
    try:
        return etree.fromstring(xml, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        log.warning("offline message %s is not well-formed XML: removed", row_id)
        return None


def load(server: "Server") -> "Module":
    module = server.module(
        "offline", xep="XEP-0160", title="Best Practices for Handling Offline Messages",
        version="1.0.1", status="complete",
        notes="normal and chat messages, per-user quota (XMPP_OFFLINE_QUOTA); flushed on "
              "non-negative initial presence")
    server.module("delay", xep="XEP-0203", title="Delayed Delivery", version="2.0",
                  status="complete", notes="stamps offline messages")
    store = OfflineStore(server)
    module.hook("message/offline", store.store)
    module.hook("auth/success", store.prefetch)
    module.hook("session/bound", store.bound)
    module.hook("presence/initial", store.initial)
    module.hook("session/presence-changed", store.presence_changed)
    module.add_feature(ns.MSGOFFLINE)
    return module


def _read_is_empty(snapshot: int | None, username: str, domain: str) -> tuple[int | None, bool]:
    """The login prefetch's reader (DB thread): whether the user has no stored message."""
    return snapshot, not actions.get_messages(username, domain, 0, 1)
