"""XEP-0045 §6: discovering the service's public rooms (disco#items, paged with XEP-0059)
and a room's identity, features and muc#roominfo (§6.4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from muc.roomforms import features, roominfo
from xmppcore import ns, rsm
from xmppcore.errors import StanzaError
from xmppcore.stanza import Stanza

if TYPE_CHECKING:
    from muc.service import MucService

MAX_PAGE = 100


class ServiceDisco:
    def __init__(self, service: "MucService") -> None:
        self.service = service

    async def room_info(self, stanza: Stanza, query: etree._Element) -> None:
        room = await self.service.room(str(stanza.to))
        if room is None:
            raise StanzaError("item-not-found", "no such room")  # §6.4
        etree.SubElement(query, ns.q(ns.DISCO_INFO, "identity"), category="conference", type="text",
                         name=room.config.name or stanza.to.local)
        for var in features(room):
            etree.SubElement(query, ns.q(ns.DISCO_INFO, "feature"), var=var)
        query.append(roominfo(room))

    async def room_items(self, stanza: Stanza, query: etree._Element) -> None:
        """§6.5: the occupants are not listed (their JIDs are not for everyone)."""
        return None

    async def public_rooms(self, stanza: Stanza, query: etree._Element) -> None:
        """§6.3: public rooms (not locked, not destroyed), with XEP-0059 paging."""
        rooms = sorted((r for r in self.service.rooms.values()
                        if r.config.public and not r.locked and not r.destroyed), key=lambda r: r.jid)
        request_el = stanza.payload.find(ns.q(ns.RSM, "set"))
        request = rsm.ResultSet.from_element(request_el) if request_el is not None else None
        page = rsm.page_sequence(rooms, request, key=lambda r: r.jid, max_page=MAX_PAGE)
        for room in page.items:
            etree.SubElement(query, ns.q(ns.DISCO_ITEMS, "item"), jid=room.jid,
                             name=room.config.name or room.jid.split("@", 1)[0])
        if request is not None:
            page.to_element(query)
