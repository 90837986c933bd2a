"""XEP-0045 §17.4 (Business Rules: IQ): an IQ to an occupant JID is relayed to its real JID,
with neither side's real JID revealed to the other (a vCard request goes to the occupant's bare
JID, where XEP-0054 keeps it, as Prosody and ejabberd do); the answer comes back the same way. XEP-0410 §3: a ping to one's own occupant JID
is answered by the room."""

from __future__ import annotations

import copy
import itertools
from typing import TYPE_CHECKING

from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.stanza import Stanza, iq_result, make

if TYPE_CHECKING:
    from muc.service import MucService

RELAY_TIMEOUT = 60.0  # seconds an answer is waited for
_ids = itertools.count(1)


class IqRelay:
    def __init__(self, service: "MucService") -> None:
        self.service = service
        self.pending: dict[str, tuple[str, str | None, str]] = {}  # our id -> (asker, its id, answerer nick JID)

    async def to_occupant(self, stanza: Stanza) -> bool:
        """Hook iq/full on the MUC host: an IQ to room@service/nick."""
        if stanza.type in ("result", "error"):
            await self._answer(stanza)
            return True
        room = await self.service.room(str(stanza.to.bare))
        occupant = room.occupant_of(str(stanza.from_)) if room is not None else None
        if occupant is None:  # XEP-0410 §3: not joined (under that nick or at all)
            raise StanzaError("not-acceptable", "you are not an occupant of this room", by=str(stanza.to.bare))
        payload = stanza.payload
        if payload is not None and payload.tag == ns.q(ns.PING, "ping") and occupant.nick == stanza.to.resource:
            self.service.server.router.reply(stanza, iq_result(stanza))
            return True
        target = room.occupants.get(stanza.to.resource)
        if target is None or not target.sessions:
            raise StanzaError("item-not-found", "no such occupant")
        to = target.bare if payload is not None and payload.tag == ns.q(ns.VCARD, "vCard") \
            else next(reversed(target.sessions))
        our_id = f"muc-relay-{next(_ids)}"
        self.pending[our_id] = (str(stanza.from_), stanza.id, str(stanza.to))
        self.service.loop_call_later(RELAY_TIMEOUT, self.pending.pop, our_id, None)
        el = make("iq", type_=stanza.type, id_=our_id, from_=f"{room.jid}/{occupant.nick}")
        el.append(copy.deepcopy(payload))
        await self.service.send(el, to)
        return True

    async def _answer(self, stanza: Stanza) -> None:
        entry = self.pending.pop(stanza.id or "", None)
        if entry is None:
            return  # RFC 6120 §8.5.3.2.1: an answer nobody waits for is dropped
        asker, asked_id, answerer = entry
        el = make("iq", type_=stanza.type, id_=asked_id, from_=answerer)
        for child in stanza.el:
            if isinstance(child.tag, str):
                el.append(copy.deepcopy(child))
        await self.service.send(el, asker)
