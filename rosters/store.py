"""The rosters of connected users, in memory (DESIGN.md: the hot path copies no roster).

A user's roster is read once, when the first of their resources logs in (with the login's
other reads at SASL success, see `xmppd.storage.Prefetch`; at bind when that copy may be
stale), and shared by all of their resources (`session.data[ITEMS]` is the same dict); it is
dropped when the last one goes. The module's per-session state (DESIGN.md "Sessions and their
lifetime"): ITEMS (the shared roster), INTERESTED (§2.1.6: the resource asked for the roster,
so it gets pushes; replicated to the other cluster nodes) and DIRECTED (§4.6: directed-presence
targets). Every change goes through `RosterStore.change`: the `rosters.actions` function
writes the database, then the memory copy is updated and the roster push sent (RFC 6121
§2.1.6), under a per-user lock so that writes, loads and pushes keep one order.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

from lxml import etree

from rosters import actions, states
from rosters.actions import Change
from rosters.items import Item, item_element, query_element
from xmppcore.jid import JID
from xmppcore.stanza import make
from xmppd.sessions import Session
from xmppd.storage import PREFETCH, Prefetch, Writes, db

if TYPE_CHECKING:
    from xmppd.server import Server

log = logging.getLogger(__name__)
# Session state keys (Module.session_state).
ITEMS = "rosters.items"
INTERESTED = "rosters.interested"
DIRECTED = "rosters.directed"


def is_interested(session: Any) -> bool:
    """RFC 6121 §2.1.6: an interested resource (it requested the roster) gets roster pushes."""
    return session.data.get(INTERESTED) is True


def directed_targets(session: Any) -> set[JID]:
    """§4.6: whom this session sent directed presence to (created on first use)."""
    targets = session.data.get(DIRECTED)
    if targets is None:
        targets = session.data[DIRECTED] = set()
    return targets
_PREFETCH_KEY = "rosters"


@dataclass(eq=False)
class UserRoster:
    """One user's roster as the running server knows it."""

    bare: JID
    lock: asyncio.Lock
    items: dict[JID, Item] = field(default_factory=dict)
    version: int = 0
    sessions: set[Session] = field(default_factory=set)
    loaded: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ver(self) -> str:
        """The 'ver' attribute of results and pushes (RFC 6121 §2.6)."""
        return str(self.version)

    def apply(self, change: Change) -> None:
        before, after = change.outcome.before, change.outcome.after
        if after is not None:
            self.items[after.jid] = after
        elif before is not None:
            self.items.pop(before.jid, None)
        self.version = max(self.version, change.version)

    def subscription(self, contact: JID) -> str:
        item = self.items.get(contact)
        return item.subscription if item is not None and item.is_listed else "none"

    def subscribers(self) -> Iterator[JID]:
        """Contacts with a subscription to the user's presence ('from' or 'both')."""
        return (item.jid for item in self.items.values() if item.has_from)

    def publishers(self) -> Iterator[JID]:
        """Contacts whose presence the user is subscribed to ('to' or 'both')."""
        return (item.jid for item in self.items.values() if item.has_to)

    def pending_requests(self) -> Iterator[str]:
        """Stored inbound subscription requests, serialized (RFC 6121 §3.1.3)."""
        return (item.pending_in for item in self.items.values() if item.pending_in)


class RosterStore:
    def __init__(self, server: "Server") -> None:
        self.server = server
        self.rosters: dict[JID, UserRoster] = {}
        # One lock per user, alive while someone holds or waits on it (or a roster keeps it).
        self._locks: weakref.WeakValueDictionary[JID, asyncio.Lock] = weakref.WeakValueDictionary()
        self.writes = Writes()  # a roster read at SASL success is used only if none ran since

    def lock(self, bare: JID) -> asyncio.Lock:
        lock = self._locks.get(bare)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[bare] = lock
        return lock

    # -- sessions come and go ------------------------------------------------------------
    def prefetch(self, username: str, domain: str, _driver: Any, prefetch: Prefetch) -> None:
        """auth/success: read the roster with the login's other reads, unless it is in memory."""
        if JID(username, domain, None) not in self.rosters:
            prefetch.add(_PREFETCH_KEY, _read_roster, self.writes.snapshot(), username, domain)

    async def attach(self, session: Session) -> None:
        """session/bound: share the user's roster with this resource, loading it if needed."""
        roster = self.rosters.get(session.bare)
        is_new = roster is None
        if roster is None:
            roster = UserRoster(session.bare, self.lock(session.bare))
            self.rosters[session.bare] = roster
        roster.sessions.add(session)
        session.data[ITEMS] = roster.items
        if not is_new:
            await roster.loaded.wait()
        elif not self._use_prefetched(roster, session):
            await self._load(roster)

    def _use_prefetched(self, roster: UserRoster, session: Session) -> bool:
        """Fill a new roster from the login's prefetch, when it was read and is still true."""
        prefetch: Prefetch | None = session.data.get(PREFETCH)
        read = prefetch.take(_PREFETCH_KEY) if prefetch is not None else None
        if read is None or not self.writes.is_unchanged(read[0]):
            return False
        _snapshot, items, version = read
        roster.items.update((item.jid, item) for item in items)
        roster.version = version
        roster.loaded.set()
        return True

    async def _load(self, roster: UserRoster) -> None:
        bare = roster.bare
        try:
            async with roster.lock:
                items, version = await db(actions.load_roster, bare.local, bare.domain)
                roster.items.update((item.jid, item) for item in items)
                roster.version = version
        except Exception:
            # Without its roster a session would broadcast to nobody and hide requests: end it.
            log.exception("could not load the roster of %s", bare)
            if self.rosters.get(bare) is roster:
                del self.rosters[bare]
            for session in list(roster.sessions):
                session.closer("internal-server-error")
        finally:
            roster.loaded.set()

    def detach(self, session: Session) -> None:
        """session/closed: the roster is freed with the user's last resource."""
        roster = self.rosters.get(session.bare)
        if roster is None:
            return
        roster.sessions.discard(session)
        if not roster.sessions:
            del self.rosters[session.bare]

    # -- reading -------------------------------------------------------------------------
    def loaded(self, bare: JID) -> UserRoster | None:
        """The roster in memory, or None (user offline, or still loading): never waits."""
        roster = self.rosters.get(bare)
        return roster if roster is not None and roster.loaded.is_set() else None

    async def of_session(self, session: Session) -> UserRoster:
        """The roster of a bound session, once loaded (stanzas right after bind wait here)."""
        roster = self.rosters.get(session.bare)
        if roster is None or session not in roster.sessions:
            if session.is_closed:  # gone already: nothing to attach to, nothing to free later
                return roster or UserRoster(session.bare, self.lock(session.bare))
            await self.attach(session)
            roster = self.rosters[session.bare]
        elif not roster.loaded.is_set():
            await roster.loaded.wait()
        return roster

    async def subscription(self, owner: JID, contact: JID) -> str:
        """Hook roster/subscription: the state of `contact` in `owner`'s roster, memory first."""
        owner, contact = owner.bare, contact.bare
        roster = self.loaded(owner)
        if roster is not None:
            return roster.subscription(contact)
        if owner.local is None:
            return "none"
        return await db(actions.get_subscription, owner.local, owner.domain, contact)

    # -- writing -------------------------------------------------------------------------
    async def change(self, owner: JID, action: Callable[..., Change], *args: Any,
                     before_push: Callable[[Change], None] | None = None) -> Change:
        """Run `action(owner.local, owner.domain, *args)` in the DB thread, then update memory
        and push the change to the owner's interested resources (§2.1.6)."""
        async with self.lock(owner):
            with self.writes.writing():
                change = await db(action, owner.local, owner.domain, *args)
            roster = self.rosters.get(owner)
            if roster is not None and roster.loaded.is_set():
                roster.apply(change)
            if before_push is not None:
                before_push(change)
            if change.outcome.is_visible_change:
                self.push(owner, change)
        cluster = getattr(self.server, "cluster", None)
        if cluster is not None and change.outcome.after != change.outcome.before:
            cluster.roster_changed(owner)  # other nodes holding this roster reload it
        return change

    async def reload(self, bare: JID) -> None:
        """Hook cluster/roster-changed: another node wrote this roster; read it again."""
        self.writes.changed()  # a roster prefetched before this is stale
        roster = self.loaded(bare)
        if roster is None or bare.local is None:
            return
        async with roster.lock:
            items, version = await db(actions.load_roster, bare.local, bare.domain)
            roster.items.clear()  # the same dict: the sessions share it
            roster.items.update((item.jid, item) for item in items)
            roster.version = version

    async def forget(self, gone: JID) -> None:
        """Hook account/deleted: the database no longer lists `gone` in anyone's roster
        (`actions.do_forget_contact`); drop it from the rosters in memory and push the
        removal to their interested resources (RFC 6121 §2.1.6, §2.5.2)."""
        bare = gone.bare
        for owner, roster in list(self.rosters.items()):
            before = roster.items.get(bare) if roster.loaded.is_set() else None
            if before is None:
                continue
            await self.reload(owner)
            if before.is_listed:
                self.push(owner, Change(states.Outcome(before, None, forward=False), roster.version))

    def push(self, owner: JID, change: Change) -> int:
        """RFC 6121 §2.1.6: a roster push to every interested resource of `owner`."""
        after = change.outcome.after
        if after is not None and after.is_listed:
            item = item_element(after)
        else:
            item = item_element(change.outcome.before, removed=True)
        query = query_element((), str(change.version))
        query.append(item)
        # §2.1.6: a push has no 'from' or the user's bare JID; clients check it.
        iq = make("iq", type_="set", from_=owner)
        iq.append(query)
        sent = 0
        for session in self.server.sessions.resources(owner):
            if is_interested(session):
                iq.set("id", f"push-{secrets.token_hex(6)}")
                iq.set("to", str(session.jid))
                if session.send_bytes(etree.tostring(iq)):
                    sent += 1
        return sent


def _read_roster(snapshot: int | None, username: str, domain: str) -> tuple[int | None, list[Item], int]:
    """The login prefetch's reader (DB thread): the roster, tagged with when it was asked for."""
    items, version = actions.load_roster(username, domain)
    return snapshot, items, version
