"""XEP-0045 §7.10: registering with a room (a reserved nickname, membership), muc#register."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lxml import etree

from muc import actions
from muc.engine.roles import MEMBER, NONE, OUTCAST
from muc.engine.room import Room
from xmppcore import ns
from xmppcore.errors import StanzaError
from xmppcore.forms import Field, Form, FormError, build_form, check_submission, find_form, parse_form
from xmppcore.stanza import Stanza, iq_result
from xmppd.storage import db

if TYPE_CHECKING:
    from muc.service import MucService

NICK = "muc#register_roomnick"


def _form() -> Form:
    form = Form(type="form", title="Register with the room",
                instructions=["Choose the nickname reserved for you in this room."])
    form.add(Field("FORM_TYPE", "hidden", values=[ns.MUC_REGISTER]))
    form.add(Field(NICK, "text-single", label="Desired Nickname", required=True))
    return form


class Registration:
    def __init__(self, service: "MucService") -> None:
        self.service = service

    async def _room(self, stanza: Stanza) -> Room:
        return await self.service.existing_room(str(stanza.to))

    async def get(self, stanza: Stanza) -> etree._Element:
        room = await self._room(stanza)
        bare = str(stanza.from_.bare)
        query = etree.Element(ns.q(ns.REGISTER, "query"), nsmap={None: ns.REGISTER})
        if room.affiliation(bare) == OUTCAST:
            raise StanzaError("forbidden", "you are banned from this room")
        nick = room.nicks.get(bare)
        if nick is not None:  # §7.10: already registered
            etree.SubElement(query, ns.q(ns.REGISTER, "registered"))
            etree.SubElement(query, ns.q(ns.REGISTER, "username")).text = nick
        else:
            etree.SubElement(query, ns.q(ns.REGISTER, "instructions")).text = "Submit the form to register."
            query.append(build_form(_form()))
        return iq_result(stanza, query)

    async def set(self, stanza: Stanza) -> etree._Element:
        async with self.service.lock(str(stanza.to)):
            room = await self._room(stanza)
            bare = str(stanza.from_.bare)
            if room.affiliation(bare) == OUTCAST:
                raise StanzaError("forbidden", "you are banned from this room")
            if stanza.payload.find(ns.q(ns.REGISTER, "remove")) is not None:
                room.nicks.pop(bare, None)
                await self._store(room, bare, "")
                return iq_result(stanza)
            x = find_form(stanza.payload, ns.MUC_REGISTER)
            if x is None:
                raise StanzaError("bad-request", "a muc#register form is expected")
            try:
                nick = check_submission(_form(), parse_form(x))[NICK][0]
            except (FormError, KeyError, IndexError):
                raise StanzaError("not-acceptable", "a nickname is required") from None
            taken = any(n == nick and b != bare for b, n in room.nicks.items()) or (
                nick in room.occupants and room.occupants[nick].bare != bare)
            if taken:
                raise StanzaError("conflict", "that nickname is taken")  # §7.10 example 64
            room.nicks[bare] = nick
            await self._store(room, bare, nick)
            if room.affiliation(bare) == NONE:  # §7.10: a registered user is a member
                room.set_affiliation(None, bare, MEMBER)
                await self.service.save_affiliation(room, bare, MEMBER)
        return iq_result(stanza)

    async def _store(self, room: Room, bare: str, nick: str) -> None:
        if room.config.persistent:
            await db(actions.do_register_nick, room.jid, bare, nick)
