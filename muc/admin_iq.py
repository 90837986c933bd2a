"""XEP-0045 §8-§10: the muc#admin (roles and affiliations, their lists) and muc#owner
(configuration §10.1-§10.2, destruction §10.9) queries of a room."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from muc import actions
from muc.engine.config import RoomConfig, status_codes_for_change
from muc.engine.roles import ADMIN, AFFILIATIONS, NONE, OUTCAST, OWNER, ROLES, MucError, may_read_list
from muc.engine.room import Room
from muc.presence import Presences, stanza_error
from muc.roomforms import apply_submission, config_element
from muc.stanzas import status_message
from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.forms import find_form
from xmppcore.jid import JID, InvalidJID
from xmppcore.stanza import Stanza, iq_result, make
from xmppd.storage import db

if TYPE_CHECKING:
    from muc.service import MucService

_ITEM = ns.q(ns.MUC_ADMIN, "item")


class RoomAdmin:
    def __init__(self, service: "MucService", presences: Presences) -> None:
        self.service = service
        self.presences = presences

    async def _room(self, stanza: Stanza) -> Room:
        return await self.service.existing_room(str(stanza.to))

    # -- muc#owner ----------------------------------------------------------------------------
    async def owner_get(self, stanza: Stanza) -> etree._Element:
        room = await self._room(stanza)
        try:
            room.check_owner(str(stanza.from_))
        except MucError as err:
            raise stanza_error(err) from None
        query = etree.Element(ns.q(ns.MUC_OWNER, "query"), nsmap={None: ns.MUC_OWNER})
        query.append(config_element(room))
        return iq_result(stanza, query)

    async def owner_set(self, stanza: Stanza) -> etree._Element:
        async with self.service.lock(str(stanza.to)):
            room = await self._room(stanza)
            try:
                room.check_owner(str(stanza.from_))
                destroy = stanza.payload.find(ns.q(ns.MUC_OWNER, "destroy"))
                if destroy is not None:
                    await self.destroy(room, destroy.get("jid"), destroy.findtext(ns.q(ns.MUC_OWNER, "reason")))
                    return iq_result(stanza)
                x = find_form(stanza.payload)
                if x is None:
                    raise MucError("bad-request", "a form or <destroy/> is expected")
                if x.get("type") == "cancel":  # §10.1.3: cancelling the initial form destroys the room
                    if room.locked:
                        await self.destroy(room, None, None)
                    return iq_result(stanza)
                await self.configure(room, x)
            except MucError as err:
                raise stanza_error(err) from None
        return iq_result(stanza)

    async def configure(self, room: Room, x: etree._Element) -> None:
        """§10.1.2 instant room (empty submit) / §10.2 configuration; occupants hear of it."""
        config, lists = apply_submission(room, x)
        for attr, affiliation in (("owners", OWNER), ("admins", ADMIN)):  # full lists (§10.2)
            if attr in lists:
                await self._replace_list(room, affiliation, {str(JID.parse(j).bare) for j in lists[attr]})
        await self.apply_config(room, config)

    async def _replace_list(self, room: Room, affiliation: str, wanted: set[str]) -> None:
        if affiliation == OWNER and not wanted:
            raise MucError("not-acceptable", "a room keeps at least one owner")
        current = set(room.with_affiliation(affiliation))
        for bare in sorted(wanted - current):  # additions first: the last owner is never removed
            await self.set_affiliation(room, None, bare, affiliation, None, None)
        for bare in sorted(current - wanted):
            await self.set_affiliation(room, None, bare, NONE, None, None)

    async def apply_config(self, room: Room, config: RoomConfig) -> None:
        was_locked, old = room.locked, room.config
        unwelcome = room.configure(config)
        if old.persistent and not config.persistent:
            await db(actions.do_delete_room, room.jid)
        await self.service.save(room)
        for occupant in unwelcome:  # §9.4 / §10.2: 322, the room became members-only
            await self.presences.remove(room, occupant, ("322",))
        codes = status_codes_for_change(old, config)
        if codes and not was_locked:
            await self.service.fan_out(room, lambda _v: 0, lambda _k: status_message(room, codes))
        if room.is_empty() and not config.persistent:
            self.service.forget(room)

    async def destroy(self, room: Room, alternate: str | None, reason: str | None) -> None:
        """§10.9: every occupant gets unavailable with <destroy/> (reason, alternate venue)."""
        recipients = room.sessions()
        room.destroy()
        for full, occupant in recipients:
            el = make("presence", type_="unavailable", from_=f"{room.jid}/{occupant.nick}")
            x = etree.SubElement(el, ns.q(ns.MUC_USER, "x"), nsmap={None: ns.MUC_USER})
            etree.SubElement(x, ns.q(ns.MUC_USER, "item"), affiliation=room.affiliation(occupant.bare), role=NONE)
            destroy = etree.SubElement(x, ns.q(ns.MUC_USER, "destroy"))
            if alternate:
                destroy.set("jid", alternate)
            if reason:
                etree.SubElement(destroy, ns.q(ns.MUC_USER, "reason")).text = reason
            etree.SubElement(x, ns.q(ns.MUC_USER, "status"), code="110")
            await self.service.send(el, full)
        self.service.forget(room)
        if room.config.persistent:
            await db(actions.do_delete_room, room.jid)

    # -- muc#admin: lists (§8.5, §9.5, §9.8, §10.5, §10.8) ------------------------------------
    async def admin_get(self, stanza: Stanza) -> etree._Element:
        room = await self._room(stanza)
        item = stanza.payload.find(_ITEM)
        if item is None:
            raise StanzaError("bad-request", "an <item/> with a role or an affiliation is expected")
        full = str(stanza.from_)
        actor = room.occupant_of(full)
        wanted = item.get("affiliation") or item.get("role") or ""
        if wanted not in AFFILIATIONS and wanted not in ROLES or wanted == NONE:
            raise StanzaError("bad-request", "no such list")
        if not may_read_list(room.affiliation(full), actor.role if actor else NONE, wanted,
                             room.config.members_visible):
            raise StanzaError("forbidden", "you may not see that list")
        query = etree.Element(ns.q(ns.MUC_ADMIN, "query"), nsmap={None: ns.MUC_ADMIN})
        if item.get("affiliation"):
            for bare in room.with_affiliation(wanted):
                el = etree.SubElement(query, _ITEM, affiliation=wanted, jid=bare)
                nick = room.nicks.get(bare)
                if nick:
                    el.set("nick", nick)
        else:
            for occupant in room.with_role(wanted):
                etree.SubElement(query, _ITEM, affiliation=room.affiliation(occupant.bare), role=wanted,
                                 nick=occupant.nick, jid=next(iter(occupant.sessions), occupant.bare))
        return iq_result(stanza, query)

    async def admin_set(self, stanza: Stanza) -> etree._Element:
        async with self.service.lock(str(stanza.to)):
            room = await self._room(stanza)
            items = stanza.payload.findall(_ITEM)
            if not items:
                raise StanzaError("bad-request", "at least one <item/> is expected")
            full = str(stanza.from_)
            actor = room.occupant_of(full)
            actor_nick = actor.nick if actor is not None else None
            try:
                for item in items:  # §9.5 / §10.5: several items in one request
                    await self.apply_item(room, full, actor_nick, item)
            except MucError as err:
                raise stanza_error(err) from None
        return iq_result(stanza)

    async def apply_item(self, room: Room, full: str | None, actor_nick: str | None,
                         item: etree._Element) -> None:
        reason = item.findtext(ns.q(ns.MUC_ADMIN, "reason"))
        if item.get("role") is not None and item.get("affiliation") is not None:
            raise MucError("bad-request", "an item changes a role or an affiliation, not both")  # §17.4
        if item.get("role") is not None:
            await self.set_role(room, full, item.get("nick") or "", item.get("role"), actor_nick, reason)
        elif item.get("affiliation") is not None:
            bare = self._bare_of_item(room, item)
            await self.set_affiliation(room, full, bare, item.get("affiliation"), actor_nick, reason)
        else:
            raise MucError("bad-request", "an item needs a role or an affiliation")

    @staticmethod
    def _bare_of_item(room: Room, item: etree._Element) -> str:
        if item.get("jid"):
            try:
                return str(JID.parse(item.get("jid")).bare)
            except InvalidJID:
                raise MucError("jid-malformed", "bad jid") from None
        occupant = room.occupants.get(item.get("nick") or "")
        if occupant is None:
            raise MucError("item-not-found", "no such occupant")
        return occupant.bare

    async def set_role(self, room: Room, full: str | None, nick: str, role: str, actor_nick: str | None,
                       reason: str | None) -> None:
        """§8.2 kick (307), §8.3/§8.4 voice, §9.6/§9.7 moderator; full None: the service."""
        occupant = room.set_role(full, nick, role)
        if role == NONE:
            await self.presences.remove(room, occupant, ("307",), actor=actor_nick, reason=reason)
        else:
            await self.presences.announce(room, occupant, actor=actor_nick, reason=reason)

    async def set_affiliation(self, room: Room, full: str | None, bare: str, affiliation: str,
                              actor_nick: str | None, reason: str | None) -> None:
        """§9.1 ban (301), §9.3/§9.4 members (321), §10.3-§10.7 owners and admins."""
        change = room.set_affiliation(full, bare, affiliation, reason or "")
        await self.service.save_affiliation(room, bare, affiliation, reason or "")
        if not change.occupants and affiliation != NONE:  # §18.1: the optional out-of-room 101 notice
            notice = make("message", from_=room.jid)
            x = etree.SubElement(notice, ns.q(ns.MUC_USER, "x"), nsmap={None: ns.MUC_USER})
            etree.SubElement(x, ns.q(ns.MUC_USER, "item"), affiliation=affiliation, jid=bare)
            etree.SubElement(x, ns.q(ns.MUC_USER, "status"), code="101")
            await self.service.send(notice, bare)
        for occupant in change.occupants:
            if change.removed:
                code = "301" if affiliation == OUTCAST else "321"
                await self.presences.remove(room, occupant, (code,), actor=actor_nick, reason=reason)
            else:
                await self.presences.announce(room, occupant, actor=actor_nick, reason=reason)
