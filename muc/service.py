"""XEP-0045 §4-§6: one MUC service (a component host): its rooms in memory, their owner
process being this one (DESIGN.md "one writer"), fan-out through the router, persistence of
persistent rooms through `muc.actions` (history written in batches, off the message path)."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import hmac
import logging
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable

from lxml import etree

from muc import actions
from muc.engine.history import Entry
from muc.engine.limits import TokenBucket
from muc.engine.roles import OWNER
from muc.engine.room import Occupant, Room
from muc.stanzas import room_message
from xmppcore.errors import StanzaError
from xmppcore.jid import JID
from xmppcore.stanza import Stanza
from xmppd.storage import db

if TYPE_CHECKING:
    from xmppd.hosts import Host

log = logging.getLogger(__name__)
FLUSH_DELAY = 1.0  # seconds a history batch waits for more messages
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


class MucService:
    def __init__(self, host: "Host", secret: bytes) -> None:
        self.host = host
        self.server = host.server
        self.rooms: dict[str, Room] = {}
        self.locks: dict[str, asyncio.Lock] = {}
        self._loading: dict[str, asyncio.Future] = {}
        self._secret = secret
        self._pending: list[tuple[str, datetime, str, str]] = []
        self._flusher: asyncio.Task | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # set when the server starts
        self._jids: dict[str, JID] = {}
        self._occupant_ids: dict[tuple[str, str], str] = {}
        self.defaults: dict[str, Any] = {}  # RoomConfig values of new rooms
        self.admin: Any = None  # muc.admin_iq.RoomAdmin: the removals and destruction operators use
        self.message_rate: tuple[float, float] | None = None  # (per second, burst) of an occupant
        self.max_rooms_per_user = 0  # rooms a user may own when creating one (0: no limit)

    # -- rooms -----------------------------------------------------------------------------
    async def room(self, jid: str) -> Room | None:
        """The room in memory, else the persistent room loaded once from the database."""
        room = self.rooms.get(jid)
        if room is not None:
            return room
        pending = self._loading.get(jid)
        if pending is None:
            pending = self._loading[jid] = asyncio.ensure_future(db(actions.load_room, jid))
        try:
            data = await pending
        finally:
            self._loading.pop(jid, None)
        if jid in self.rooms:
            return self.rooms[jid]
        return self._install(data) if data is not None else None

    async def existing_room(self, jid: str) -> Room:
        """The room a stanza is addressed to; `item-not-found` when there is none (XEP-0045 §6.4),
        and no lock is left behind for it."""
        room = await self.room(jid)
        if room is None:
            self.drop_lock(jid)
            raise StanzaError("item-not-found", "no such room")
        return room

    async def load_all(self, *_args: Any) -> None:
        """At start: every persistent room of this service into memory."""
        self.loop = asyncio.get_running_loop()
        for data in await db(actions.load_rooms, self.host.name):
            if data["jid"] not in self.rooms:
                self._install(data)

    def _install(self, data: dict[str, Any]) -> Room:
        jid = data["jid"]
        room = Room(jid, data["config"], affiliations=data["affiliations"], nicks=data["nicks"])
        room.subject, room.subject_nick = data["subject"], data["subject_nick"]
        for stamp, nick, xml in data["history"]:
            el = etree.fromstring(xml.encode(), _PARSER)
            room.history.add(Entry(stamp, nick, el, len(xml)))
        self.rooms[jid] = room
        return room

    def may_create(self, bare: str) -> bool:
        """XMPP_MUC_MAX_ROOMS_PER_USER: counted over the rooms in memory (every persistent room
        is, from the start) at a room's creation only, never on the message path."""
        limit = self.max_rooms_per_user
        if limit <= 0:
            return True
        return sum(1 for room in self.rooms.values() if room.affiliations.get(bare) == OWNER) < limit

    def may_send(self, occupant: Occupant) -> bool:
        """XMPP_MUC_MESSAGE_RATE: the occupant's token bucket (O(1))."""
        if self.message_rate is None:
            return True
        now = time.monotonic()
        if occupant.bucket is None:
            occupant.bucket = TokenBucket.full(*self.message_rate, now)
        return occupant.bucket.take(now)

    def lock(self, jid: str) -> asyncio.Lock:
        lock = self.locks.get(jid)
        if lock is None:
            lock = self.locks[jid] = asyncio.Lock()
        return lock

    def loop_call_later(self, delay: float, fn: Any, *args: Any) -> None:
        asyncio.get_running_loop().call_later(delay, fn, *args)

    def drop_lock(self, jid: str) -> None:
        """A stanza for a room that does not exist: its lock goes once released (the lock table
        does not grow with every name tried)."""
        asyncio.get_running_loop().call_soon(self._drop_idle_lock, jid)

    def _drop_idle_lock(self, jid: str) -> None:
        lock = self.locks.get(jid)
        if jid not in self.rooms and lock is not None and not lock.locked():
            del self.locks[jid]

    def forget(self, room: Room) -> None:
        """A temporary room whose last occupant left, or a destroyed room, vanishes (§10.9)."""
        if self.rooms.get(room.jid) is room:
            del self.rooms[room.jid]
            self.locks.pop(room.jid, None)

    def occupant_id(self, room: Room, bare: str) -> str:
        """XEP-0421 §4: stable per user and room, opaque, not revealing the JID."""
        key = (room.jid, bare)
        found = self._occupant_ids.get(key)
        if found is None:
            digest = hmac.new(self._secret, f"{room.jid}\0{bare}".encode(), hashlib.sha256).digest()
            found = self._occupant_ids[key] = base64.b64encode(digest[:18]).decode()
            if len(self._occupant_ids) > 100_000:  # a cache, not a registry
                self._occupant_ids.clear()
        return found

    # -- sending -----------------------------------------------------------------------------
    def jid(self, text: str) -> JID:
        """A parsed JID of an occupant or a room nick, parsed once (PRECIS is not cheap)."""
        found = self._jids.get(text)
        if found is None:
            if len(self._jids) > 100_000:  # a cache, not a registry
                self._jids.clear()
            found = self._jids[text] = JID.parse(text)
        return found

    async def send(self, el: etree._Element, to: str) -> None:
        """One stanza of the room's own making to one session, through the router."""
        await self.deliver(el, to, shared=False)

    async def deliver(self, el: etree._Element, to: str, *, shared: bool = True) -> None:
        """Route `el` to `to` (through the router: the recipient may be anywhere). A `shared`
        element serves every recipient of a fan-out in turn: its 'to' is set for each, and it
        is copied only when it may outlive this call (a session with outbound filters that
        may queue it, a recipient not bound here: s2s, another node)."""
        to_jid = self.jid(to)
        if shared:
            session = self.server.sessions.by_full.get(to_jid)
            if session is None or getattr(session, "outbound", True) or session.is_closed:
                el = copy.deepcopy(el)
        el.set("to", to)
        from_ = el.get("from")
        stanza = Stanza(el, etree.QName(el).localname, to_jid, self.jid(from_) if from_ else None,
                        self.host.origin)
        await self.server.router.dispatch(stanza)

    async def fan_out(self, room: Room, shape: Callable[[Occupant], Any],
                      build: Callable[[Any], etree._Element | None],
                      recipients: Iterable[tuple[str, Occupant]] | None = None) -> None:
        """Send to every session of the room one stanza per distinct shape: `shape(viewer)` names
        it, `build(key)` makes it once; each session gets its copy with its own 'to'."""
        built: dict[Any, etree._Element | None] = {}
        for full, viewer in list(recipients if recipients is not None else room.sessions()):
            key = shape(viewer)
            if key not in built:
                built[key] = build(key)
            el = built[key]
            if el is not None:
                await self.deliver(el, full)

    async def broadcast_message(self, room: Room, occupant: Occupant, original: etree._Element,
                                archived_from: str | None = None) -> etree._Element:
        """The room's copy of `original` to every occupant; `archived_from` (the sender's full
        JID): first `muc/archive` on the server's bus, where the archive stamps the copy."""
        el = room_message(room, occupant.nick, original, self.occupant_id(room, occupant.bare))
        if archived_from is not None:
            await self.server.hooks.fire_all("muc/archive", self.jid(room.jid), el, archived_from)
        await self.fan_out(room, lambda _viewer: 0, lambda _key: el)
        el.attrib.pop("to", None)  # kept (history, the archive) as broadcast, for nobody in particular
        return el

    # -- persistence (through muc.actions) ----------------------------------------------------
    async def save(self, room: Room) -> None:
        if room.config.persistent and not room.locked:
            await db(actions.do_save_room, room.jid, room.config, room.affiliations,
                     room.subject, room.subject_nick)

    async def save_affiliation(self, room: Room, bare: str, affiliation: str, reason: str = "") -> None:
        if room.config.persistent:
            await db(actions.do_set_affiliation, room.jid, bare, affiliation, reason)

    def remember(self, room: Room, nick: str, el: etree._Element) -> None:
        """Keep a message in the room's history; persistent rooms write it in a batch later."""
        xml = etree.tostring(el, encoding="unicode")
        stamp = datetime.now(timezone.utc)
        room.history.add(Entry(stamp, nick, el, len(xml)))
        if room.config.persistent and room.config.history_length:
            self._pending.append((room.jid, stamp, nick, xml))
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(FLUSH_DELAY)  # a batching window, not a synchronisation
        await self.flush()

    async def flush(self) -> None:
        rows, self._pending = self._pending, []
        if not rows:
            return
        keep = {jid: self.rooms[jid].config.history_length for jid, *_ in rows if jid in self.rooms}
        try:
            await db(actions.do_append_history, rows, keep)
        except Exception:
            log.exception("could not write %d history message(s)", len(rows))
