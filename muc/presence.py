"""XEP-0045 §7.1-§7.3, §7.6, §7.14: entering a room (creating it, §10.1), presence updates,
nick changes (303), leaving; every occupant presence with its muc#user item and status codes."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Iterable

from lxml import etree

from muc.engine.config import RoomConfig
from muc.engine.history import Request
from muc.engine.roles import NONE, MucError
from muc.engine.room import Occupant, Room
from muc.stanzas import (join_error, occupant_presence, parse_xep0082, presence_payload,
                         subject_message, with_delay)
from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.stanza import Stanza

if TYPE_CHECKING:
    from muc.service import MucService


def stanza_error(err: MucError) -> StanzaError:
    return StanzaError(err.condition, err.text, err.type)


def _int(value: str | None) -> int | None:
    try:
        return max(int(value), 0) if value is not None else None
    except ValueError:
        return None


def history_request(x: etree._Element | None) -> Request:
    """§7.2.15: the <history/> of a join."""
    history = x.find(ns.q(ns.MUC, "history")) if x is not None else None
    if history is None:
        return Request()
    since = history.get("since")
    return Request(_int(history.get("maxchars")), _int(history.get("maxstanzas")),
                   _int(history.get("seconds")), parse_xep0082(since) if since else None)


class Presences:
    def __init__(self, service: "MucService") -> None:
        self.service = service

    async def to_occupant(self, stanza: Stanza) -> bool:
        """Hook presence/full: a presence to room@service/nick."""
        if stanza.from_ is None or stanza.type not in (None, "unavailable", "error"):
            return True  # §7: subscriptions and probes to a room mean nothing
        room_jid, nick, full = str(stanza.to.bare), stanza.to.resource, str(stanza.from_)
        async with self.service.lock(room_jid):
            room = await self.service.room(room_jid)
            occupant = room.occupant_of(full) if room is not None else None
            if stanza.type is not None:
                if room is None:
                    self.service.drop_lock(room_jid)
                elif occupant is not None:  # unavailable (§7.14), or an error: it is gone (333)
                    await self.leave(room, full, stanza.el, ("333",) if stanza.type == "error" else ())
                return True
            if occupant is None:
                await self.join(room, room_jid, nick, full, stanza)
            elif occupant.nick != nick:
                await self.change_nick(room, occupant, full, nick, stanza)
            else:
                room.update_presence(full, presence_payload(stanza.el))
                await self.announce(room, occupant)
        return True

    # -- §7.2: entering ------------------------------------------------------------------
    async def join(self, room: Room | None, room_jid: str, nick: str, full: str, stanza: Stanza) -> None:
        x = stanza.el.find(ns.q(ns.MUC, "x"))
        password = x.findtext(ns.q(ns.MUC, "password")) if x is not None else None
        creating = room is None
        if creating and not self.service.may_create(str(stanza.from_.bare)):
            refused = StanzaError("not-allowed", "you own as many rooms as you may")  # §10.1.1
            await self.service.send(join_error(room_jid, nick, full, refused.to_element()), full)
            self.service.drop_lock(room_jid)
            return
        if creating:  # §10.1.1: a new room is locked until its owner configures it
            room = Room(room_jid, RoomConfig(**self.service.defaults), locked=True)
        reserved = room.nicks.get(str(stanza.from_.bare))
        renamed = reserved is not None and reserved != nick
        if renamed:  # §7.10 / §7.2.3: the service enters the user under the reserved nick (210)
            nick = reserved
        try:
            room.check_join(full, nick, password, creating=creating)
        except MucError as err:
            await self.service.send(join_error(room_jid, nick, full, stanza_error(err).to_element()), full)
            return
        if creating:
            self.service.rooms[room_jid] = room
        joined = room.join(full, nick, presence_payload(stanza.el), creating=creating)
        me = joined.occupant
        sees = room.sees_jids(me)
        for other in list(room.occupants.values()):  # §7.2.3: who is there, first
            if other is not me and self.shows(room, other):
                await self.service.send(self._presence(room, other, sees), full)
        if joined.new_nick:
            others = [(f, o) for f, o in room.sessions() if o is not me]
            await self.announce(room, me, recipients=others, own=[])
        codes = ["110"]
        if room.config.non_anonymous:
            codes.append("100")  # §7.2.4
        if room.config.logging:
            codes.append("170")  # §7.2.12
        if creating:
            codes.append("201")  # §10.1.1
        if renamed:
            codes.append("210")
        await self.service.send(self._presence(room, me, True, codes, full=full), full)
        now = datetime.now(timezone.utc)
        for entry in room.history.select(history_request(x), now):  # §7.2.15
            await self.service.send(with_delay(entry.payload, room.jid, entry.stamp), full)
        await self.service.send(subject_message(room), full)  # §7.2.16: always, even empty

    def shows(self, room: Room, occupant: Occupant) -> bool:
        """muc#roomconfig_presencebroadcast: whose presence the others see."""
        return occupant.role in room.config.presence_broadcast

    def _presence(self, room: Room, occupant: Occupant, with_jid: bool, codes: Iterable[str] = (),
                  **kw) -> etree._Element:
        return occupant_presence(room, occupant, with_jid=with_jid, codes=codes,
                                 occupant_id=self.service.occupant_id(room, occupant.bare), **kw)

    async def announce(self, room: Room, occupant: Occupant, codes: Iterable[str] = (), *,
                       recipients: list[tuple[str, Occupant]] | None = None,
                       own: Iterable[str] | None = None, **kw) -> None:
        """`occupant`'s presence to everyone (or `recipients`): full JIDs to those who may see
        them; its own sessions (`own`, default: those in the room) also get 110 (§7.2.3)."""
        codes = tuple(codes)
        own = list(occupant.sessions) if own is None else list(own)
        targets = recipients if recipients is not None else room.sessions()
        if occupant.role != NONE and not kw.get("unavailable") and not self.shows(room, occupant):
            targets = [(f, o) for f, o in targets if o is occupant]
        shapes: dict[bool, etree._Element] = {}
        for full, viewer in targets:
            if full not in own:
                sees = room.sees_jids(viewer)
                if sees not in shapes:  # one stanza per shape (with or without real JIDs)
                    shapes[sees] = self._presence(room, occupant, sees, codes, **kw)
                await self.service.deliver(shapes[sees], full)
        for full in own:
            await self.service.send(self._presence(room, occupant, True, ("110", *codes), full=full, **kw), full)

    # -- §7.6: changing nickname -------------------------------------------------------------
    async def change_nick(self, room: Room, occupant: Occupant, full: str, nick: str, stanza: Stanza) -> None:
        try:
            room.check_nick_change(full, nick)
        except MucError as err:
            await self.service.send(join_error(room.jid, nick, full, stanza_error(err).to_element()), full)
            return
        old = room.change_nick(occupant, nick)
        room.update_presence(full, presence_payload(stanza.el))
        await self.announce(room, occupant, ("303",), unavailable=True, nick=nick, from_nick=old)
        await self.announce(room, occupant)

    # -- §7.14: leaving, and removals (§8.2 kick, §9.1 ban, §9.4/§10.2 321/322, §10.9) ---------
    async def leave(self, room: Room, full: str, el: etree._Element | None = None,
                    codes: Iterable[str] = ()) -> None:
        occupant, last = room.leave(full)
        extra = {"role": NONE}
        if last:
            await self.announce(room, occupant, codes, own=[full], unavailable=True, **extra)
        else:
            await self.announce(room, occupant, codes, recipients=[], own=[full], unavailable=True, **extra)
        if room.is_empty() and not room.config.persistent:
            self.service.forget(room)  # §10.1.3: a temporary room vanishes with its last occupant

    async def remove(self, room: Room, occupant: Occupant, codes: Iterable[str], *, actor: str | None = None,
                     reason: str | None = None) -> None:
        """The nick leaves with all its sessions, told why (status codes, actor, reason)."""
        fulls = room.remove(occupant)
        await self.announce(room, occupant, codes, recipients=room.sessions(), own=fulls, unavailable=True,
                            actor=actor, reason=reason)
        if room.is_empty() and not room.config.persistent and not room.locked:
            self.service.forget(room)

    async def shut_down(self) -> None:
        """XEP-0045 #service-shutdown-kick, status 332: the service shuts down; every occupant's
        own sessions get their unavailable presence with 110 and 332, as in its example (the
        others are leaving too: O(sessions), not N²)."""
        for room in list(self.service.rooms.values()):
            async with self.service.lock(room.jid):
                for occupant in list(room.occupants.values()):
                    fulls = room.remove(occupant)
                    await self.announce(room, occupant, ("332",), recipients=[], own=fulls, unavailable=True)
