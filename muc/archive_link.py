"""What the room archive (XEP-0313 §5.1.2 MUC archives, XEP-0425 moderation) asks of the
MUC service, on the component host's bus (the archive app does not import this one):

  muc/access (room_jid: str, requester: str) -> RoomView | None
      the room as the requester may see it (None: no such room)
  muc/broadcast (room_jid: str, element) -> True | None
      send a message of the room's own making (from the room's JID) to every occupant
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lxml import etree

from muc.engine.roles import MODERATOR
from muc.engine.room import bare_of

if TYPE_CHECKING:
    from muc.service import MucService


@dataclass(frozen=True)
class RoomView:
    jid: str
    logged: bool  # muc#roomconfig_enablelogging
    may_read: bool  # XEP-0313 §5.1.2 (business rules): allowed to read the archive now
    moderator: bool  # the requester is a moderator in the room now
    sees_jids: bool  # non-anonymous room, or a moderator (XEP-0045 §7.2.3)
    nick: str  # the requester's nick ("" when not in the room)
    occupant_id: str  # the requester's XEP-0421 occupant id


class ArchiveLink:
    def __init__(self, service: "MucService") -> None:
        self.service = service

    async def access(self, room_jid: str, requester: str) -> RoomView | None:
        room = await self.service.room(room_jid)
        if room is None or room.destroyed:
            return None
        occupant = room.occupant_of(requester)
        affiliation = room.affiliation(requester)
        if room.config.members_only:  # only owners, admins and members
            may_read = affiliation in ("owner", "admin", "member")
        elif room.config.password:  # whoever may not just enter: only those in the room
            may_read = occupant is not None and affiliation != "outcast"
        else:  # an open room: anyone not banned
            may_read = affiliation != "outcast"
        moderator = occupant is not None and occupant.role == MODERATOR
        return RoomView(room.jid, room.config.logging, may_read, moderator, room.sees_jids(occupant),
                        occupant.nick if occupant is not None else "",
                        self.service.occupant_id(room, bare_of(requester)))

    async def broadcast(self, room_jid: str, el: etree._Element) -> bool | None:
        room = self.service.rooms.get(room_jid)
        if room is None:
            return None
        await self.service.fan_out(room, lambda _viewer: 0, lambda _key: el)
        return True
